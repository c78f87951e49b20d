/**
 * `npm run demo`: the whole pipeline on one machine. A built-in OpenCTI
 * live-stream simulator (the test emulator) publishes events; the real
 * ingester and dispatcher processes carry them through Redis to a local
 * receiver that prints what it gets. Uses REDIS_URL (default
 * redis://127.0.0.1:6379) when it answers, else a throwaway redis-server from
 * the PATH. Ctrl-C stops everything cleanly.
 *
 * DEMO_RATE (events/s, default 200), DEMO_BACKLOG (events published before
 * start, default 2000) and DEMO_DURATION_S (stop by itself; default: run
 * until Ctrl-C) tune it.
 */
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { DEFAULT_DESTINATION, cursorKey, destinationKeys, queuePrefix } from '../shared/queue/contract.js';
import { startProcess, type ManagedProcess } from '../test/helpers/processes.js';
import { RecordingReceiver, type RecordedRequest } from '../test/helpers/recording-receiver.js';
import { RedisServer } from '../test/helpers/redis-server.js';
import { StreamEmulator } from '../test/helpers/stream-emulator.js';

const rate = Number(process.env.DEMO_RATE ?? 200);
const backlog = Number(process.env.DEMO_BACKLOG ?? 2_000);
const durationS = Number(process.env.DEMO_DURATION_S ?? 0);
const PRINTED_PER_SECOND = 3;

const redisUrl = await reachableRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const ownRedis = redisUrl ? undefined : await RedisServer.start({ appendonly: true });
const url = redisUrl ?? ownRedis!.url;
console.log(`redis      ${url}${ownRedis ? ' (throwaway redis-server)' : ''}`);

const emulator = await StreamEmulator.start({ token: 'demo-token', streams: { 'demo-stream': { live: true } }, heartbeatIntervalMs: 1_000 });
let printedThisSecond = 0;
const receiver = await RecordingReceiver.start({ onRequest: (request) => printEvent(request) });
console.log(`opencti    ${emulator.url} (simulator, stream demo-stream)`);
console.log(`webhook    ${receiver.url} (prints ${PRINTED_PER_SECOND} events per second)\n`);

const connectorId = `demo-${randomUUID()}`;
const env = {
  OPENCTI_URL: emulator.url,
  OPENCTI_TOKEN: 'demo-token',
  CONNECTOR_ID: connectorId,
  CONNECTOR_NAME: 'Webhook demo',
  CONNECTOR_LIVE_STREAM_ID: 'demo-stream',
  CONNECTOR_LOG_LEVEL: 'info',
  WEBHOOK_URL: receiver.url,
  REDIS_URL: url,
};
emulator.publishMany(backlog, (i) => ({ event: (['create', 'update', 'create', 'delete', 'merge'] as const)[i % 5], dependencies: i % 7 === 0 ? 1 : 0 }));
const processes: ManagedProcess[] = [await startProcess('ingester', env), await startProcess('dispatcher', env)];
const queue = new Queue(destinationKeys(connectorId, DEFAULT_DESTINATION).queueName, { connection: { url }, prefix: queuePrefix(connectorId) });

const publisher = setInterval(() => emulator.publishMany(Math.max(1, Math.round(rate / 10))), 100);
const started = Date.now();
let lastDelivered = 0;
const progress = setInterval(() => void printProgress(), 1_000);
if (durationS > 0) setTimeout(() => void stop('time is up'), durationS * 1_000);
process.on('SIGINT', () => void stop('Ctrl-C'));
process.on('SIGTERM', () => void stop('SIGTERM'));

async function printProgress(): Promise<void> {
  printedThisSecond = 0;
  const delivered = receiver.delivered().length;
  const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed');
  const queued = (counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0);
  console.log(
    `[${((Date.now() - started) / 1000).toFixed(0).padStart(4)}s] received ${emulator.sentFrames().length}  queued ${queued}  delivered ${delivered}  failed ${counts.failed ?? 0}  rate ${delivered - lastDelivered}/s`,
  );
  lastDelivered = delivered;
}

function printEvent(request: RecordedRequest): void {
  if (printedThisSecond >= PRINTED_PER_SECOND) return;
  printedThisSecond += 1;
  const envelope = JSON.parse(request.body) as { message?: string; data?: { type?: string } };
  console.log(`  POST ${request.headers['webhook-id']}  ${String(request.headers['x-opencti-event']).padEnd(6)} ${envelope.data?.type ?? '?'}: ${envelope.message ?? ''}`.slice(0, 160));
}

let stopping = false;
async function stop(reason: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(publisher);
  clearInterval(progress);
  console.log(`\nstopping (${reason})…`);
  await Promise.all(processes.map((child) => child.kill('SIGTERM')));
  const delivered = receiver.delivered().length;
  const seconds = (Date.now() - started) / 1000;
  console.log(`delivered ${delivered} events in ${seconds.toFixed(1)} s (${(delivered / seconds).toFixed(0)} events/s on average)`);
  // Leave nothing behind in a Redis the demo did not start.
  await queue.obliterate({ force: true }).catch(() => undefined);
  const cleanup = new Redis(url);
  await cleanup.del(cursorKey(connectorId)).finally(() => cleanup.quit());
  await queue.close();
  await Promise.all([receiver.close(), emulator.close()]);
  await ownRedis?.stop();
  process.exit(0);
}

async function reachableRedis(candidate: string): Promise<string | undefined> {
  const probe = new Redis(candidate, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
    return candidate;
  } catch {
    return undefined;
  } finally {
    probe.disconnect();
  }
}
