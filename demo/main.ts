/**
 * `npm run demo`: the whole pipeline on one machine. A small OpenCTI simulator publishes
 * events; the real ingester and dispatcher processes carry them through Redis to a local
 * webhook that prints a few of them. Uses REDIS_URL (default redis://127.0.0.1:6379) when it
 * answers, else a throwaway redis-server from the PATH; with neither, says how to get one and
 * exits 1. Ctrl-C stops everything cleanly and removes the demo's keys.
 *
 * DEMO_RATE (events/s, default 200), DEMO_BACKLOG (events published before start, default
 * 2000) and DEMO_DURATION_S (stop by itself; default: run until Ctrl-C) tune it.
 *
 * It imports nothing from test/ (.dependency-cruiser.cjs): a newcomer's first command must
 * not depend on the test suite.
 */
import '../shared/process/runtime.js'; // first: refuses an unsupported Node.js before any dependency loads
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { redactUrl } from '../shared/observability/redact.js';
import { DEFAULT_DESTINATION, cursorKey, destinationKeys, queuePrefix } from '../shared/queue/contract.js';
import { onProcessExit } from './child.js';
import { OpenctiSimulator } from './opencti-simulator.js';
import { PrintingReceiver, type ReceivedEvent } from './printing-receiver.js';
import { ProductProcess } from './product-process.js';
import { findOnPath, REDIS_INSTALL_HINT, ThrowawayRedis } from './redis-server.js';

const rate = knob('DEMO_RATE', 200);
const backlog = knob('DEMO_BACKLOG', 2_000);
const durationS = knob('DEMO_DURATION_S', 0);
const PRINTED_PER_SECOND = 3;
const TOKEN = 'demo-token';
const STREAM_ID = 'demo-stream';
const CLEANUP_STEP_MS = 15_000;

/** Undone in reverse order when the demo stops, however far it got. */
const cleanups: Array<() => Promise<unknown>> = [];
let stopping = false;

// From the start: the children run in process groups of their own (child.ts), so the demo
// must stop them itself whenever it is stopped.
process.on('SIGINT', () => void stop('Ctrl-C'));
process.on('SIGTERM', () => void stop('SIGTERM'));
process.on('SIGHUP', () => void stop('SIGHUP'));
// Output piped into a program that has quit (`npm run demo | head`): stop as after Ctrl-C.
process.stdout.on('error', () => void stop('output closed'));

try {
  await run();
} catch (error) {
  // The demo's own failures are sentences for the person who typed `npm run demo`, not stack traces.
  console.error(`demo: ${(error as Error).message}`);
  await cleanUp();
  process.exit(1);
}

async function run(): Promise<void> {
  const configured = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  let url = configured;
  if (!(await answers(configured))) {
    if (findOnPath('redis-server') === undefined) {
      throw new Error(`no Redis at ${redactUrl(configured)} and no redis-server on the PATH. Install one: ${REDIS_INSTALL_HINT} · Docker: docker run -d -p 6379:6379 redis:7`);
    }
    const redis = await ThrowawayRedis.start();
    cleanups.push(() => redis.stop());
    url = redis.url;
  }
  console.log(`redis      ${redactUrl(url)}${url === configured ? '' : ' (throwaway redis-server)'}`);

  const simulator = await OpenctiSimulator.start({ token: TOKEN, streamId: STREAM_ID, heartbeatIntervalMs: 1_000 });
  cleanups.push(() => simulator.close());
  let printedThisSecond = 0;
  const receiver = await PrintingReceiver.start((event) => {
    if (printedThisSecond >= PRINTED_PER_SECOND) return;
    printedThisSecond += 1;
    printEvent(event);
  });
  cleanups.push(() => receiver.close());
  console.log(`opencti    ${simulator.url} (simulator, stream ${STREAM_ID})`);
  console.log(`webhook    ${receiver.url} (prints ${PRINTED_PER_SECOND} events per second)\n`);

  const connectorId = `demo-${randomUUID()}`;
  const queue = new Queue(destinationKeys(connectorId, DEFAULT_DESTINATION).queueName, { connection: { url }, prefix: queuePrefix(connectorId) });
  // A Redis that went away is reported by the progress line and the processes, not by a stack trace per retry.
  queue.on('error', () => undefined);
  cleanups.push(async () => {
    // Leave nothing behind in a Redis the demo did not start.
    await queue.obliterate({ force: true }).catch(() => undefined);
    const redis = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined);
    await redis.del(cursorKey(connectorId)).finally(() => redis.disconnect());
    await queue.close();
  });
  const cwd = await mkdtemp(join(tmpdir(), 'opencti-webhook-demo-'));
  const forgetCwd = onProcessExit(() => rmSync(cwd, { recursive: true, force: true }));
  cleanups.push(async () => {
    await rm(cwd, { recursive: true, force: true });
    forgetCwd();
  });
  const env = {
    OPENCTI_URL: simulator.url,
    OPENCTI_TOKEN: TOKEN,
    CONNECTOR_ID: connectorId,
    CONNECTOR_NAME: 'Webhook demo',
    CONNECTOR_LIVE_STREAM_ID: STREAM_ID,
    CONNECTOR_LOG_LEVEL: 'info',
    WEBHOOK_URL: receiver.url,
    REDIS_URL: url,
  };
  let started = Date.now();
  cleanups.push(async () => {
    // Runs once both processes have stopped: every delivery is counted.
    const seconds = (Date.now() - started) / 1000;
    console.log(`delivered ${receiver.delivered} events in ${seconds.toFixed(1)} s (${(receiver.delivered / seconds).toFixed(0)} events/s on average)`);
  });
  simulator.publish(backlog);
  for (const kind of ['ingester', 'dispatcher'] as const) {
    const product = await ProductProcess.start(kind, env, cwd);
    cleanups.push(() => product.stop());
    void product.exited.then((exit) => {
      if (stopping) return;
      console.error(`demo: the ${kind} stopped on its own (code ${exit.code}, signal ${exit.signal}); its last lines:\n${product.tail()}`);
      void stop('a process stopped', 1);
    });
  }

  const publisher = setInterval(() => simulator.publish(Math.max(1, Math.round(rate / 10))), 100);
  started = Date.now();
  let lastDelivered = 0;
  const progress = setInterval(() => {
    printedThisSecond = 0;
    void queue.getJobCounts('waiting', 'active', 'delayed', 'failed').then((counts) => {
      const delivered = receiver.delivered;
      const queued = (counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0);
      const seconds = ((Date.now() - started) / 1000).toFixed(0).padStart(4);
      console.log(`[${seconds}s] received ${simulator.sentFrames}  queued ${queued}  delivered ${delivered}  failed ${counts.failed ?? 0}  rate ${delivered - lastDelivered}/s`);
      lastDelivered = delivered;
    }, () => undefined);
  }, 1_000);
  cleanups.push(async () => {
    clearInterval(publisher);
    clearInterval(progress);
  });
  if (durationS > 0) setTimeout(() => void stop('time is up'), durationS * 1_000);
}

function printEvent({ headers, body }: ReceivedEvent): void {
  const envelope = JSON.parse(body) as { message?: string; data?: { type?: string } };
  console.log(`  POST ${String(headers['webhook-id'])}  ${String(headers['x-opencti-event']).padEnd(6)} ${envelope.data?.type ?? '?'}: ${envelope.message ?? ''}`.slice(0, 160));
}

async function stop(reason: string, code = 0): Promise<void> {
  if (stopping) return;
  stopping = true;
  console.log(`\nstopping (${reason})…`);
  await cleanUp();
  process.exit(code);
}

async function cleanUp(): Promise<void> {
  stopping = true;
  for (const cleanup of cleanups.reverse()) {
    // A step that cannot finish (its Redis is gone) must not keep the others from running.
    const timedOut = sleep(CLEANUP_STEP_MS, 'timed out' as const, { ref: false });
    const outcome = await Promise.race([cleanup().then(() => 'done' as const), timedOut]).catch((error: unknown) => (error as Error).message);
    if (outcome !== 'done') console.error(`demo: a cleanup step failed (${outcome}); going on`);
  }
  cleanups.length = 0;
}

/** True when a Redis answers PING at `url` within a second. */
async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
    await probe.ping();
    return true;
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/** A number ≥ 0 from the environment, else the default; anything else ends the demo with one line naming the variable. */
function knob(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const value = Number(raw);
  if (Number.isFinite(value) && value >= 0) return value;
  console.error(`demo: ${name} must be a number ≥ 0, not ${JSON.stringify(raw)}`);
  process.exit(1);
}
