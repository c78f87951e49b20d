/**
 * `npm run bench:takeover`: how long the events a SIGKILLed dispatcher held wait before they go
 * out again, over repeated kills, with the product's defaults unless told otherwise. Everything on
 * loopback: a throwaway redis-server (AOF), the OpenCTI stream emulator, a recording webhook
 * receiver answering after BENCH_TAKEOVER_DELAY_MS, and the built ingester and dispatchers.
 *
 * Each round publishes a backlog (so the ingester queues packs), waits until the dispatcher is busy
 * with it, SIGKILLs the dispatcher, reads from Redis what the active jobs held (single events,
 * packs from their progress on; the dead process can change nothing any more), then:
 *   restart  spawns a dispatcher in its place at once (as an orchestrator restarts a container;
 *            same worker name: the host name), so the time includes its start;
 *   replica  spawns nothing: the other running dispatcher takes over (a new replica is added after
 *            the round, so two run at every kill).
 * It measures the time from the kill until the last held event not yet answered was answered 2xx,
 * and the duplicates (2xx answers beyond the first for one event) the round added, then waits for
 * the round's backlog to drain. It prints one line per kill and min/median/max per mode.
 *
 * Options (environment variables):
 *   BENCH_TAKEOVER_KILLS     kills per mode                                       default 10
 *   BENCH_TAKEOVER_MODES     restart, replica or both, comma-separated            default restart,replica
 *   BENCH_TAKEOVER_EVENTS    backlog published per round                          default 1000
 *   BENCH_TAKEOVER_DELAY_MS  receiver answer delay                                default 50
 *   BENCH_TAKEOVER_ENV       extra product settings, e.g. DISPATCHER_LOCK_DURATION_MS=30000,
 *                            comma-separated KEY=VALUE                            default none
 *   BENCH_TAKEOVER_PRODUCT   dist/ directory of another build to run instead of this one (e.g. an
 *                            older commit, for before/after figures)            default this build
 *   BENCH_TAKEOVER_TIMEOUT_S limit of every wait                                  default 180
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import { QUEUE_NAME, queuePrefix } from '../shared/queue/contract.js';
import { startProcess, type ManagedProcess, type ProcessKind } from '../test/helpers/processes.js';
import { heldEvents } from '../test/helpers/takeover.js';
import { startTestBed, type TestBed } from '../test/helpers/test-bed.js';
import { waitFor } from '../test/helpers/wait.js';

type Mode = 'restart' | 'replica';

interface KillResult {
  mode: Mode;
  held: number;
  packs: number;
  pending: number;
  seconds: number;
  /** restart: when the new dispatcher logged dispatcher.started, seconds after the kill. */
  upSeconds?: number;
  duplicates: number;
}

const env = process.env;
const int = (name: string, fallback: number): number => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`bench:takeover: ${name}=${raw} is not a non-negative integer`);
  return value;
};
const options = {
  kills: int('BENCH_TAKEOVER_KILLS', 10),
  modes: (env.BENCH_TAKEOVER_MODES || 'restart,replica').split(',').map((m) => m.trim()) as Mode[],
  events: int('BENCH_TAKEOVER_EVENTS', 1_000),
  delayMs: int('BENCH_TAKEOVER_DELAY_MS', 50),
  timeoutMs: int('BENCH_TAKEOVER_TIMEOUT_S', 180) * 1_000,
  product: env.BENCH_TAKEOVER_PRODUCT || fileURLToPath(new URL('../', import.meta.url)),
  extraEnv: Object.fromEntries(
    (env.BENCH_TAKEOVER_ENV ?? '')
      .split(',')
      .filter((pair) => pair.includes('='))
      .map((pair) => [pair.slice(0, pair.indexOf('=')).trim(), pair.slice(pair.indexOf('=') + 1).trim()]),
  ),
};
for (const mode of options.modes) if (mode !== 'restart' && mode !== 'replica') throw new Error(`bench:takeover: unknown mode ${String(mode)}`);

const ENTRY: Record<Exclude<ProcessKind, 'board'>, string> = { ingester: 'ingester/main.js', dispatcher: 'dispatcher/main.js' };

async function runMode(mode: Mode): Promise<KillResult[]> {
  const bed: TestBed = await startTestBed({ redis: { appendonly: true }, emulator: { heartbeatIntervalMs: 1_000 } });
  // Production defaults but for what the bed needs; DISPATCHER_LOCK_DURATION_MS only if asked.
  const productEnv = bed.env({ WEBHOOK_REQUEST_TIMEOUT_MS: '30000', ...options.extraEnv });
  if (options.extraEnv.DISPATCHER_LOCK_DURATION_MS === undefined) delete productEnv.DISPATCHER_LOCK_DURATION_MS;
  const queue = new Queue(QUEUE_NAME, { connection: { url: bed.redis.url, maxRetriesPerRequest: null }, prefix: queuePrefix(productEnv.CONNECTOR_ID!) });
  queue.on('error', () => undefined);
  const spawn = (kind: 'ingester' | 'dispatcher', extra: Record<string, string> = {}): Promise<ManagedProcess> =>
    startProcess(kind, { ...productEnv, ...extra }, { script: join(options.product, ENTRY[kind]), timeoutMs: 60_000 });
  const { receiver } = bed;
  receiver.setFaults(() => ({ delayMs: options.delayMs }));
  const results: KillResult[] = [];
  try {
    let replicas = 0;
    const dispatcher = () => spawn('dispatcher', mode === 'replica' ? { DISPATCHER_WORKER_NAME: `replica-${(replicas += 1)}` } : {});
    const running: ManagedProcess[] = [await dispatcher()];
    if (mode === 'replica') running.push(await dispatcher());
    await spawn('ingester');
    let published = 0;
    for (let kill = 1; kill <= options.kills; kill += 1) {
      bed.emulator.publishMany(options.events);
      published += options.events;
      await receiver.waitForCount(published - options.events + Math.floor(options.events / 5), options.timeoutMs);
      const victim = running.shift()!;
      const answersBefore = receiver.delivered().length;
      const uniqueBefore = receiver.deliveredIds().size;
      await victim.kill('SIGKILL');
      const killedAt = Date.now();
      const held = await heldEvents(queue);
      const delivered = receiver.deliveredIds();
      const pending = held.ids.filter((id) => !delivered.has(id));
      let upSeconds: number | undefined;
      if (mode === 'restart') {
        running.push(await dispatcher());
        upSeconds = (Date.now() - killedAt) / 1_000;
      }
      await receiver.waitForIds(pending, options.timeoutMs);
      const seconds = (Date.now() - killedAt) / 1_000;
      await waitFor(() => receiver.deliveredIds().size >= published, { timeoutMs: options.timeoutMs, what: `the ${published} events published so far delivered` });
      const duplicates = receiver.delivered().length - answersBefore - (receiver.deliveredIds().size - uniqueBefore);
      const result: KillResult = { mode, held: held.ids.length, packs: held.packs, pending: pending.length, seconds, duplicates, ...(upSeconds === undefined ? {} : { upSeconds }) };
      results.push(result);
      const up = upSeconds === undefined ? '' : ` (the restart was up after ${upSeconds.toFixed(2)} s)`;
      console.log(`${mode} kill ${kill}: held ${result.held} events (${result.packs} packs), ${result.pending} out again after ${seconds.toFixed(2)} s${up}, ${duplicates} duplicates`);
      if (mode === 'replica') running.push(await dispatcher());
    }
  } finally {
    await queue.close().catch(() => undefined);
    await bed.close();
  }
  return results;
}

function summary(values: number[], digits = 2): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted.length % 2 === 1 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
  return `${sorted[0]!.toFixed(digits)} / ${median.toFixed(digits)} / ${sorted.at(-1)!.toFixed(digits)}`;
}

console.log(`bench:takeover: ${options.kills} kills per mode, ${options.events} events per round, receiver delay ${options.delayMs} ms, product ${options.product}, settings ${JSON.stringify(options.extraEnv)}`);
const all: KillResult[] = [];
for (const mode of options.modes) all.push(...(await runMode(mode)));
console.log('\n| Mode | Kills | Takeover s (min / median / max) | Restart up after s (min / median / max) | Duplicates per kill (min / median / max) | Duplicates total | Held events per kill (min / median / max) |');
console.log('|---|---|---|---|---|---|---|');
for (const mode of options.modes) {
  const rows = all.filter((r) => r.mode === mode);
  const dups = rows.map((r) => r.duplicates);
  console.log(
    `| ${mode} | ${rows.length} | ${summary(rows.map((r) => r.seconds))} | ${mode === 'restart' ? summary(rows.map((r) => r.upSeconds ?? 0)) : '–'} | ${summary(dups, 0)} | ${dups.reduce((a, b) => a + b, 0)} | ${summary(rows.map((r) => r.held), 0)} |`,
  );
}
