/**
 * The delivery ceiling: what a bare undici `request()` loop achieves against the same receiver
 * with the same bodies, headers and concurrency as the dispatcher, with no queue in between.
 * The pipeline's drain rate divided by this is the benchmark's headline figure.
 */
import { Pool } from 'undici';
import { nowMs } from './clock.js';

export interface CeilingItem {
  id: string;
  event: string;
  body: string;
}

export interface CeilingResult {
  seconds: number;
  eventsPerSecond: number;
  failures: number;
}

export async function runCeiling(url: string, items: readonly CeilingItem[], concurrency: number): Promise<CeilingResult> {
  const target = new URL(url);
  const path = `${target.pathname}${target.search}`;
  // The dispatcher's pool settings (dispatcher/webhook/client.ts): one socket per concurrent delivery.
  const pool = new Pool(target.origin, { connections: concurrency, pipelining: 1, keepAliveTimeout: 30_000 });
  let next = 0;
  let failures = 0;
  const started = nowMs();
  const loop = async (): Promise<void> => {
    for (let i = next++; i < items.length; i = next++) {
      const item = items[i] as CeilingItem;
      const response = await pool.request({
        path,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          'user-agent': 'opencti-webhook-bench',
          'webhook-id': `${item.id}-0000000000000000`,
          'x-opencti-event': item.event,
          'x-opencti-event-id': item.id,
        },
        body: item.body,
      });
      await response.body.dump();
      if (response.statusCode < 200 || response.statusCode >= 300) failures += 1;
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, loop));
  } finally {
    await pool.close();
  }
  const seconds = (nowMs() - started) / 1000;
  return { seconds, eventsPerSecond: items.length / seconds, failures };
}
