/**
 * The bed of the topology suite: the OpenCTI stream emulator and a recording
 * receiver as in the fault suite, and a Redis of any topology described only
 * by REDIS_* variables, exactly as an operator would configure it. The
 * suite's own queue oracles connect through the product's factory with the
 * same variables.
 */
import { z } from 'zod';
import { loadConfig } from '../../shared/config/load.js';
import { RedisSection } from '../../shared/config/schema.js';
import { createRedisClient, type RedisClient } from '../../shared/redis/client.js';
import type { PipelineBed } from '../fault/harness.js';
import type { ManagedProcess } from '../helpers/processes.js';
import { pipelineEnv } from '../helpers/factories.js';
import { stopAll } from '../helpers/processes.js';
import { RecordingReceiver } from '../helpers/recording-receiver.js';
import { StreamEmulator } from '../helpers/stream-emulator.js';

export interface TopologyBed extends PipelineBed {
  /** The suite's own connection, through the product's factory. */
  client: RedisClient;
}

const RedisOnly = z.object({ redis: RedisSection });

/** A client for the REDIS_* variables `redisEnv`, as the processes build theirs. */
export function clientFor(redisEnv: Record<string, string>, role = 'test'): RedisClient {
  const client = createRedisClient(loadConfig(RedisOnly, { env: redisEnv }).redis, role);
  // Failovers are the point of the suite; the processes' logs say what happened.
  client.on('error', () => undefined);
  client.on('node error', () => undefined);
  return client;
}

/** `redisEnv` always names a REDIS_URL, so no process falls back to the default (a developer's own Redis). */
export async function startTopologyBed(redisEnv: Record<string, string> & { REDIS_URL: string }, stopRedis: () => Promise<void>): Promise<TopologyBed> {
  const emulator = await StreamEmulator.start({ heartbeatIntervalMs: 200 });
  const receiver = await RecordingReceiver.start();
  const client = clientFor(redisEnv);
  return {
    emulator,
    receiver,
    client,
    env: (overrides) =>
      pipelineEnv({ redisUrl: redisEnv.REDIS_URL, openctiUrl: emulator.url, webhookUrl: receiver.url }, { ...redisEnv, ...overrides }),
    close: async () => {
      await stopAll();
      client.disconnect();
      await Promise.all([receiver.close(), emulator.close()]);
      await stopRedis();
    },
  };
}

/** What the processes warned about, `kind: msg×count (first error), …`, for the test's diagnostic (how the failover looked from inside). */
export function warnings(children: ManagedProcess[]): string {
  const counts = new Map<string, { count: number; first: string }>();
  for (const child of children) {
    for (const line of child.logs) {
      if (typeof line.level !== 'number' || line.level < 40) continue;
      const key = `${child.kind}: ${String(line.msg).split(':')[0]}`;
      const seen = counts.get(key) ?? { count: 0, first: String((line.err as { message?: string } | undefined)?.message ?? '').slice(0, 80) };
      counts.set(key, { ...seen, count: seen.count + 1 });
    }
  }
  return [...counts].map(([key, { count, first }]) => `${key}×${count}${first ? ` (${first})` : ''}`).join(', ') || 'none';
}

/** Runs `step`; when it fails, the error carries the last log lines of each process (a failover gone wrong shows there). */
export async function dumpOnFailure<T>(children: ManagedProcess[], step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (error) {
    const tails = children.map((child) => `--- ${child.kind} ${child.pid}:\n${child.logs.slice(-12).map((line) => JSON.stringify(line).slice(0, 400)).join('\n')}`);
    (error as Error).message += `\n${tails.join('\n')}`;
    throw error;
  }
}
