/**
 * The benchmark scenarios. Each one starts its own Redis (AOF) and product processes, measures
 * from the outside (emulator publication times, receiver answer times, /proc, Redis INFO), and
 * stops everything it started, also on failure. Every wait is bounded.
 */
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { StreamEmulator } from '../test/helpers/stream-emulator.js';
import { runCeiling, type CeilingResult } from './ceiling.js';
import { nowMs } from './clock.js';
import { summariseProfile, type ProfileSummary } from './cpuprofile.js';
import { benchDestinations, type BenchDestination } from './destinations.js';
import type { BenchOptions } from './options.js';
import { Pipeline, pollUntil, type PipelineOptions, type UsageSnapshot } from './pipeline.js';
import { ReceiverTimeoutError, type LeanReceiver, type ReceiverRecords } from './receiver.js';
import { CpuWindow, redisAofInfo, redisUsedMemory, type AofInfo, type CpuShare, type ProcessUsage } from './resources.js';
import { round, summarise, type LatencySummary } from './stats.js';
import { publishAtRate, publishBacklog, type Publication, type Published, type Workload } from './workload.js';

export interface Context {
  options: BenchOptions;
  receiver: LeanReceiver;
  workload: Workload;
  log: (line: string) => void;
}

export interface Backlog {
  emulator: StreamEmulator;
  published: Published[];
  bytes: number;
}

export interface ProcessReport {
  /** Processes of this role (dispatchers may be several: CPU summed, RSS the highest). */
  count: number;
  cpuSeconds: number;
  /**
   * CPU time per event, microseconds: per event read (ingester, Redis) or per delivery (dispatcher:
   * with several destinations an event is delivered once to each).
   */
  cpuMicrosPerEvent: number;
  /** … of which in reaped child processes (Redis AOF rewrites), seconds. */
  childCpuSeconds: number;
  peakRssMiB: number;
}

export interface ResourceReport {
  ingester?: ProcessReport;
  dispatcher?: ProcessReport;
  redis: ProcessReport;
}

export interface DeliveryCheck {
  /** Distinct events answered (summed over the destinations). */
  unique: number;
  /** Requests beyond the first for one event (at-least-once redeliveries). */
  duplicates: number;
  /** Requests whose body length differs from what was published (should be 0). */
  bodyMismatches: number;
  /** Requests for events never published (should be 0). */
  unknown: number;
  /** Receiver event-loop utilisation during the scenario (1 = the receiver was the bottleneck). */
  receiverElu: number;
}

interface RedisCommandStat {
  command: string;
  calls: number;
  usec: number;
  usecPerCall: number;
}

/** One destination's share of a drain: its own receiver path, its own last delivery. */
interface DestinationDrain {
  name: string;
  path: string;
  /** Events it had to get. */
  events: number;
  /** Ingester start to this destination's last answer. */
  seconds: number;
  eventsPerSecond: number;
  check: DeliveryCheck;
}

export interface DrainResult {
  events: number;
  dispatchers: number;
  /** Deliveries: events × destinations. */
  deliveries: number;
  /** Ingester start to the last acknowledgement (of every destination). */
  seconds: number;
  /** Events (not deliveries) per second until every destination had every event. */
  eventsPerSecond: number;
  destinations: DestinationDrain[];
  /** Ingester start until its committed position covered the last event (everything enqueued). */
  enqueuedAfterSeconds: number;
  resources: ResourceReport;
  aof: AofInfo;
  redisCommands: RedisCommandStat[];
  check: DeliveryCheck;
  /** Cores busy during the scenario: the bench's processes vs everything else on the machine. */
  cpu: CpuShare;
  profiles?: Record<string, ProfileSummary[]>;
}

/** What one destination's queue holds in Redis: every key under its queue prefix. */
export interface QueueMemory {
  name: string;
  /** Events queued for it. */
  events: number;
  /** Jobs waiting (events are packed INGESTER_EVENTS_PER_JOB per job when read in a backlog). */
  jobs: number;
  keys: number;
  /** Sum of MEMORY USAGE of its keys. */
  bytes: number;
  bytesPerEvent: number;
}

export interface QueueResult {
  events: number;
  ingesterOnly: { seconds: number; eventsPerSecond: number; resources: ResourceReport };
  /** INFO used_memory delta / (events × destinations). */
  redisBytesPerEvent: number;
  /** Per destination queue, from MEMORY USAGE of its keys. */
  queues: QueueMemory[];
  /** MEMORY USAGE of one queued job hash, and the mean body it holds. */
  sampleJobBytes: number;
  meanBodyBytes: number;
  eventsStreamBytes: number;
  dispatcherOnly: { seconds: number; eventsPerSecond: number; resources: ResourceReport; check: DeliveryCheck; destinations: DestinationDrain[] };
  redisCommands: RedisCommandStat[];
  cpu: CpuShare;
}

/** One destination's latency in a live run. */
export interface DestinationLatency {
  name: string;
  path: string;
  delivered: number;
  undelivered: number;
  latencyMs: LatencySummary;
}

export interface LiveResult {
  rate: number;
  seconds: number;
  /** Events published in the measured window (warm-up excluded). */
  published: number;
  achievedRate: number;
  /** Deliveries answered (summed over the destinations). */
  delivered: number;
  undelivered: number;
  /** Over every destination's deliveries. */
  latencyMs: LatencySummary;
  destinations: DestinationLatency[];
  /** CPU used during the publication window, percent of one core. */
  cpuPercent: { ingester: number; dispatcher: number; redis: number };
  resources: ResourceReport;
  check: DeliveryCheck;
  /** During the publication window. */
  cpu: CpuShare;
  /** Sampled every 250 ms from Redis: where the delay is (see LiveSample). */
  timeline: LiveSample[];
  /** Highest commit lag and queue depth seen in the timeline. */
  maxCommitLagMs: number;
  maxWaiting: number;
}

interface LiveSample {
  /** Seconds since the first publication. */
  t: number;
  /** Now minus the publication time of the newest event the ingester committed to Redis: stream → queue delay. */
  commitLagMs: number;
  /** Jobs waiting in the queue (enqueued, not yet taken by a dispatcher). */
  waiting: number;
  /** Events answered by the receiver so far. */
  delivered: number;
}

export interface ScalingResult {
  dispatchers: number;
  events: number;
  receiverDelayMs: number;
  seconds: number;
  eventsPerSecond: number;
  /** dispatchers × concurrency / delay: what the receiver's delay allows at most. */
  boundEventsPerSecond: number;
  resources: ResourceReport;
  check: DeliveryCheck;
  cpu: CpuShare;
}

// --------------------------------------------------------------------------------------------

/** Publishes the drain backlog on a fresh emulator. */
export async function prepareBacklog(ctx: Context, events: number): Promise<Backlog> {
  const emulator = await StreamEmulator.start({ heartbeatIntervalMs: 1_000 });
  const publisher = ctx.workload.attach(emulator);
  const published = publishBacklog(publisher, events);
  const bytes = published.reduce((sum, p) => sum + p.bytes, 0);
  return { emulator, published, bytes };
}

export function timeoutMs(ctx: Context): number {
  return ctx.options.timeoutSeconds * 1_000;
}

/** Starts a scenario's pipeline with the bench's receiver, concurrency, log level and runtime flags; `extra` adds what only this scenario sets. */
export function startPipeline(
  ctx: Context,
  openctiUrl: string,
  destinations: readonly BenchDestination[],
  extra: Pick<PipelineOptions, 'profileDir' | 'env'> = {},
): Promise<Pipeline> {
  return Pipeline.start({
    openctiUrl,
    destinations,
    urlFor: (path) => ctx.receiver.urlFor(path),
    concurrency: ctx.options.concurrency,
    logLevel: ctx.options.logLevel,
    nodeOptions: ctx.options.nodeOptions,
    ...extra,
  });
}

export function race<T>(promise: Promise<T>, pipeline: Pipeline): Promise<T> {
  return Promise.race([promise, pipeline.failure]);
}

function processReport(usages: ProcessUsage[], events: number, before: ProcessUsage[] = []): ProcessReport {
  const cpu = usages.reduce((sum, u, i) => sum + u.cpuSeconds - (before[i]?.cpuSeconds ?? 0), 0);
  const childCpu = usages.reduce((sum, u, i) => sum + u.childCpuSeconds - (before[i]?.childCpuSeconds ?? 0), 0);
  return {
    count: usages.length,
    cpuSeconds: round(cpu, 2),
    cpuMicrosPerEvent: round((cpu * 1e6) / Math.max(1, events), 0),
    childCpuSeconds: round(childCpu, 2),
    peakRssMiB: round(Math.max(...usages.map((u) => u.peakRssMiB)), 0),
  };
}

/** Ingester and Redis CPU per event read, dispatcher CPU per delivery (`deliveries`, events × destinations). */
export function resources(after: UsageSnapshot, events: number, before?: UsageSnapshot, deliveries = events): ResourceReport {
  return {
    ...(after.ingester ? { ingester: processReport([after.ingester], events, before?.ingester ? [before.ingester] : []) } : {}),
    ...(after.dispatchers.length > 0 ? { dispatcher: processReport(after.dispatchers, deliveries, before?.dispatchers) } : {}),
    redis: processReport([after.redis], events, before ? [before.redis] : []),
  };
}

/** CPU seconds of every product process and redis-server in a snapshot (whole lifetimes). */
function totalCpu(usage: UsageSnapshot): number {
  return (usage.ingester?.cpuSeconds ?? 0) + usage.dispatchers.reduce((sum, u) => sum + u.cpuSeconds, 0) + usage.redis.cpuSeconds;
}

/** The deliveries to `path` (every path when undefined) against what was published. */
export function check(records: ReceiverRecords, expected: ReadonlyMap<string, number>, path?: string): DeliveryCheck {
  const pathIndex = path === undefined ? -1 : records.paths.indexOf(path);
  let requests = 0;
  let bodyMismatches = 0;
  let unknown = 0;
  for (let i = 0; i < records.ids.length; i += 1) {
    if (path !== undefined && records.pathIndexes[i] !== pathIndex) continue;
    requests += 1;
    const bytes = expected.get(records.ids[i] as string);
    if (bytes === undefined) unknown += 1;
    else if (bytes !== records.lengths[i]) bodyMismatches += 1;
  }
  const unique = path === undefined ? records.unique : (records.uniqueByPath[path] ?? 0);
  return {
    unique,
    duplicates: requests - unique,
    bodyMismatches,
    unknown,
    receiverElu: round(records.elu, 2),
  };
}

/** Every destination's check, and their sum (one destination: exactly its own check). */
function destinationChecks(records: ReceiverRecords, expected: ReadonlyMap<string, number>, destinations: readonly BenchDestination[]): { total: DeliveryCheck; each: DeliveryCheck[] } {
  const each = destinations.map((d) => check(records, expected, d.path));
  const total = each.reduce((sum, c) => ({
    unique: sum.unique + c.unique,
    duplicates: sum.duplicates + c.duplicates,
    bodyMismatches: sum.bodyMismatches + c.bodyMismatches,
    unknown: sum.unknown + c.unknown,
    receiverElu: c.receiverElu,
  }));
  return { total, each };
}

function expectedBytes(published: readonly Published[]): Map<string, number> {
  return new Map(published.map((p) => [p.id, p.bytes]));
}

/**
 * Waits until every destination's path got `events` distinct events; resolves with the answer
 * time of each one's last.
 */
function waitForAll(ctx: Context, destinations: readonly BenchDestination[], events: number, timeout: number, what: string): Promise<number[]> {
  return Promise.all(destinations.map((d) => ctx.receiver.waitForUnique(events, timeout, `${what} at ${d.name} (${d.path})`, d.path)));
}

function destinationDrains(destinations: readonly BenchDestination[], events: number, started: number, doneAt: readonly number[], checks: readonly DeliveryCheck[]): DestinationDrain[] {
  return destinations.map((d, i) => {
    const seconds = ((doneAt[i] as number) - started) / 1000;
    return { name: d.name, path: d.path, events, seconds: round(seconds, 2), eventsPerSecond: round(events / seconds, 0), check: checks[i] as DeliveryCheck };
  });
}

/** The bench's own measurement commands (queueMemory), left out of the product's command stats. */
const BENCH_COMMANDS = new Set(['info', 'config', 'scan', 'memory']);

export async function commandStats(redis: Redis, top = 8): Promise<RedisCommandStat[]> {
  const info = await redis.info('commandstats');
  const stats: RedisCommandStat[] = [];
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+),usec_per_call=([\d.]+)/gm)) {
    stats.push({ command: match[1] as string, calls: Number(match[2]), usec: Number(match[3]), usecPerCall: Number(match[4]) });
  }
  return stats.filter((s) => !BENCH_COMMANDS.has(s.command)).sort((a, b) => b.usec - a.usec).slice(0, top);
}

/** MEMORY USAGE of every key of one destination's queue (SCAN of its prefix), with its waiting jobs. */
export async function queueMemory(pipeline: Pipeline, name: string, events: number): Promise<QueueMemory> {
  const prefix = pipeline.prefix(name);
  let cursor = '0';
  let keys = 0;
  let bytes = 0;
  do {
    const [next, batch] = await pipeline.client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    const sizes = batch.length === 0 ? [] : ((await pipeline.client.pipeline(batch.map((key) => ['memory', 'usage', key, 'samples', '0'])).exec()) ?? []);
    for (const [error, size] of sizes) if (error === null) bytes += Number(size ?? 0);
    keys += batch.length;
  } while (cursor !== '0');
  const jobs = (await pipeline.client.llen(`${prefix}:wait`)) + (await pipeline.client.llen(`${prefix}:paused`));
  return { name, events, jobs, keys, bytes, bytesPerEvent: round(bytes / Math.max(1, events), 0) };
}

function profileDirFor(ctx: Context, label: string): string | undefined {
  if (ctx.options.profileDir === undefined) return undefined;
  const dir = join(ctx.options.profileDir, `${label}-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Profiles by role: --cpu-prof names each `CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile` when its process exits. */
function collectProfiles(dir: string, spawned: ReadonlyArray<{ kind: string; pid: number }>): Record<string, ProfileSummary[]> {
  const files = readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'));
  const out: Record<string, ProfileSummary[]> = {};
  for (const { kind, pid } of spawned) {
    const file = files.find((name) => name.split('.').includes(String(pid)));
    if (file === undefined) continue;
    (out[kind] ??= []).push(summariseProfile(join(dir, file), 15));
  }
  return out;
}

function lastId(published: readonly Published[]): string {
  const last = published[published.length - 1];
  if (last === undefined) throw new Error('bench: empty backlog');
  return last.id;
}

// --------------------------------------------------------------------------------------------

/**
 * Backlog drain: N events wait in the stream; a dispatcher is already running; the clock starts
 * when the ingester is spawned and stops when the receiver has answered all N.
 */
export async function drainScenario(ctx: Context, backlog: Backlog, dispatchers = 1, receiverDelayMs = 0, label = 'drain'): Promise<DrainResult> {
  const events = backlog.published.length;
  const destinations = benchDestinations(ctx.options.destinations);
  const profileDir = profileDirFor(ctx, label);
  const window = new CpuWindow();
  const pipeline = await startPipeline(ctx, backlog.emulator.url, destinations, { profileDir });
  let result: Omit<DrainResult, 'profiles'>;
  try {
    await ctx.receiver.reset(receiverDelayMs);
    await pipeline.client.config('RESETSTAT');
    await pipeline.startDispatchers(dispatchers);
    const last = lastId(backlog.published);
    const started = nowMs();
    await pipeline.startIngester();
    let enqueuedAt = Number.NaN;
    const enqueued = pollUntil(() => pipeline.ingested(last), timeoutMs(ctx), async () => `the ingester to commit ${last} (position ${JSON.stringify(await pipeline.cursor())})`, 100).then(() => {
      enqueuedAt = nowMs();
    });
    enqueued.catch(() => undefined); // awaited below; this only keeps an early failure from going unhandled
    const doneAt = await race(waitForAll(ctx, destinations, events, timeoutMs(ctx), `${events} events delivered (${label})`), pipeline);
    await race(enqueued, pipeline);
    const usage = pipeline.usage();
    const cpu = window.end(totalCpu(usage));
    const redisCommands = await commandStats(pipeline.client);
    const aof = await redisAofInfo(pipeline.client);
    const records = await ctx.receiver.collect();
    const seconds = (Math.max(...doneAt) - started) / 1000;
    const checks = destinationChecks(records, expectedBytes(backlog.published), destinations);
    const deliveries = events * destinations.length;
    result = {
      events,
      dispatchers,
      deliveries,
      seconds: round(seconds, 2),
      eventsPerSecond: round(events / seconds, 0),
      destinations: destinationDrains(destinations, events, started, doneAt, checks.each),
      enqueuedAfterSeconds: round((enqueuedAt - started) / 1000, 2),
      resources: resources(usage, events, undefined, deliveries),
      aof,
      redisCommands,
      check: checks.total,
      cpu,
    };
  } finally {
    await pipeline.stop();
  }
  if (profileDir === undefined) return result;
  return { ...result, profiles: collectProfiles(profileDir, pipeline.spawned) };
}

/** A bare undici request() loop over the same bodies, receiver and concurrency. */
export async function ceilingScenario(ctx: Context, backlog: Backlog): Promise<CeilingResult & { check: DeliveryCheck; cpu: CpuShare }> {
  await ctx.receiver.reset(0);
  const items = backlog.published.map((p) => ({ id: p.id, event: p.event, body: p.body }));
  const window = new CpuWindow();
  const result = await runCeiling(ctx.receiver.url, items, ctx.options.concurrency);
  const cpu = window.end(0);
  const records = await ctx.receiver.collect();
  return { ...result, seconds: round(result.seconds, 2), eventsPerSecond: round(result.eventsPerSecond, 0), check: check(records, expectedBytes(backlog.published)), cpu };
}

/**
 * The queue alone: the ingester drains the backlog into Redis with no dispatcher running (enqueue
 * throughput, Redis memory per queued event), then a dispatcher alone empties the full queue.
 */
export async function queueScenario(ctx: Context, backlog: Backlog): Promise<QueueResult> {
  const events = backlog.published.length;
  const destinations = benchDestinations(ctx.options.destinations);
  const deliveries = events * destinations.length;
  const window = new CpuWindow();
  // Nothing drains the queue here: backpressure (which counts a job as INGESTER_EVENTS_PER_JOB events) would stop the ingester for good.
  const pipeline = await startPipeline(ctx, backlog.emulator.url, destinations, { env: { INGESTER_MAX_QUEUED_EVENTS: '100000000' } });
  try {
    await pipeline.client.config('RESETSTAT');
    const memoryBefore = await redisUsedMemory(pipeline.client);
    const last = lastId(backlog.published);
    const started = nowMs();
    await pipeline.startIngester();
    await race(
      pollUntil(
        // Jobs hold up to INGESTER_EVENTS_PER_JOB events each: the committed position tells when all are in.
        async () => pipeline.ingested(last),
        timeoutMs(ctx),
        async () => `all ${events} events committed (${await pipeline.waitingJobs()} jobs waiting)`,
        50,
      ),
      pipeline,
    );
    const enqueuedAt = nowMs();
    const ingesterUsage = pipeline.usage();
    const memoryAfter = await redisUsedMemory(pipeline.client);
    const sampleJob = await pipeline.client.lindex(`${pipeline.prefix()}:wait`, 0);
    const sampleJobBytes = sampleJob === null ? 0 : Number((await pipeline.client.call('MEMORY', 'USAGE', `${pipeline.prefix()}:${sampleJob}`, 'SAMPLES', '0')) ?? 0);
    const sampleBody = sampleJob === null ? '' : ((await pipeline.client.hget(`${pipeline.prefix()}:${sampleJob}`, 'data')) ?? '');
    const eventsStreamBytes = Number((await pipeline.client.call('MEMORY', 'USAGE', `${pipeline.prefix()}:events`, 'SAMPLES', '0')) ?? 0);
    const ingestSeconds = (enqueuedAt - started) / 1000;
    ctx.log(`    ingester alone: ${events} events queued in ${ingestSeconds.toFixed(1)} s as ${await pipeline.waitingJobs()} jobs; sample job ${sampleJobBytes} B (job data ${sampleBody.length} B)`);
    const queues: QueueMemory[] = [];
    for (const d of destinations) queues.push(await queueMemory(pipeline, d.name, events));
    await pipeline.stopIngester();

    await ctx.receiver.reset(0);
    // The dispatcher phase's Redis CPU starts here, after the bench's own MEMORY USAGE scan.
    const dispatchBefore = pipeline.usage();
    const dispatchStarted = nowMs();
    await pipeline.startDispatchers(1);
    const doneAt = await race(waitForAll(ctx, destinations, events, timeoutMs(ctx), `${events} events delivered from the full queue`), pipeline);
    const dispatcherUsage = pipeline.usage();
    const cpu = window.end((ingesterUsage.ingester?.cpuSeconds ?? 0) + totalCpu(dispatcherUsage));
    const redisCommands = await commandStats(pipeline.client);
    const records = await ctx.receiver.collect();
    const dispatchSeconds = (Math.max(...doneAt) - dispatchStarted) / 1000;
    const checks = destinationChecks(records, expectedBytes(backlog.published), destinations);
    return {
      events,
      ingesterOnly: { seconds: round(ingestSeconds, 2), eventsPerSecond: round(events / ingestSeconds, 0), resources: resources(ingesterUsage, events) },
      redisBytesPerEvent: round((memoryAfter - memoryBefore) / deliveries, 0),
      queues,
      sampleJobBytes,
      meanBodyBytes: round(backlog.bytes / events, 0),
      eventsStreamBytes,
      dispatcherOnly: {
        seconds: round(dispatchSeconds, 2),
        eventsPerSecond: round(events / dispatchSeconds, 0),
        resources: resources(dispatcherUsage, events, { dispatchers: [], redis: dispatchBefore.redis }, deliveries),
        check: checks.total,
        destinations: destinationDrains(destinations, events, dispatchStarted, doneAt, checks.each),
      },
      redisCommands,
      cpu,
    };
  } finally {
    await pipeline.stop();
  }
}

/**
 * Live latency: the pipeline is idle and connected; the emulator publishes `rate` events/s for
 * warm-up + measured seconds. Latency = receiver answer time − emulator write time, joined on the
 * SSE id; warm-up events are excluded.
 */
export async function liveScenario(ctx: Context, rate: number): Promise<LiveResult> {
  const { liveSeconds, liveWarmupSeconds, liveSettleSeconds } = ctx.options;
  const emulator = await StreamEmulator.start({ heartbeatIntervalMs: 1_000 });
  const publisher = ctx.workload.attach(emulator);
  const destinations = benchDestinations(ctx.options.destinations);
  const pipeline = await startPipeline(ctx, emulator.url, destinations);
  try {
    await ctx.receiver.reset(0);
    await pipeline.startDispatchers(1);
    await pipeline.startIngester();
    await race(emulator.waitForConnections(1, 15_000), pipeline);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const before = pipeline.usage();
    const window = new CpuWindow();
    const publishedAt = new Map<string, number>();
    const timeline: LiveSample[] = [];
    let firstAt: number | undefined;
    const sampler = setInterval(() => {
      void Promise.all([pipeline.cursor(), pipeline.waitingJobs(), ctx.receiver.progress()]).then(
        ([cursor, waiting, progress]) => {
          const now = nowMs();
          const committedAt = publishedAt.get(cursor.openId ?? cursor.resumeFrom ?? '');
          firstAt ??= now;
          timeline.push({ t: round((now - firstAt) / 1000, 2), commitLagMs: committedAt === undefined ? Number.NaN : round(now - committedAt, 1), waiting, delivered: progress.unique });
        },
        () => undefined,
      );
    }, 250);
    let publication: Publication;
    try {
      publication = await race(publishAtRate(publisher, rate, liveWarmupSeconds + liveSeconds, (id, at) => publishedAt.set(id, at)), pipeline);
    } catch (error) {
      clearInterval(sampler);
      throw error;
    }
    const after = pipeline.usage();
    const cpu = window.end(totalCpu(after) - totalCpu(before));
    const total = publication.ids.length;
    try {
      await race(waitForAll(ctx, destinations, total, liveSettleSeconds * 1_000, `${total} live events delivered`), pipeline);
    } catch (error) {
      if (!(error instanceof ReceiverTimeoutError)) throw error;
      ctx.log(`    ${error.message}`);
    }
    clearInterval(sampler);
    const records = await ctx.receiver.collect();
    const warmupEnd = publication.firstAt + liveWarmupSeconds * 1_000;
    const latency = latencyByDestination(records, publication, warmupEnd, destinations);
    const { measured, firstMeasured } = latency;
    const latencies = latency.each.flatMap((d) => d.latencies);
    const undelivered = latency.each.reduce((sum, d) => sum + d.undelivered, 0);
    const windowSeconds = (publication.lastAt - publication.firstAt) / 1000;
    const cpuPercent = (pick: (u: UsageSnapshot) => ProcessUsage[]): number => {
      const cpu = pick(after).reduce((sum, u, i) => sum + u.cpuSeconds - (pick(before)[i]?.cpuSeconds ?? 0), 0);
      return round((100 * cpu) / windowSeconds, 0);
    };
    const expected = new Map<string, number>();
    for (let i = 0; i < total; i += 1) expected.set(publication.ids[i] as string, publication.bytes[i] as number);
    return {
      rate,
      seconds: liveSeconds,
      published: measured,
      achievedRate: round(measured / ((publication.lastAt - firstMeasured) / 1000), 0),
      delivered: latencies.length,
      undelivered,
      latencyMs: roundSummary(summarise(Float64Array.from(latencies))),
      destinations: latency.each.map((d) => ({ name: d.name, path: d.path, delivered: d.latencies.length, undelivered: d.undelivered, latencyMs: roundSummary(summarise(Float64Array.from(d.latencies))) })),
      cpuPercent: {
        ingester: cpuPercent((u) => (u.ingester ? [u.ingester] : [])),
        dispatcher: cpuPercent((u) => u.dispatchers),
        redis: cpuPercent((u) => [u.redis]),
      },
      resources: resources(after, total, before, total * destinations.length),
      check: destinationChecks(records, expected, destinations).total,
      cpu,
      timeline,
      maxCommitLagMs: round(Math.max(0, ...timeline.map((x) => x.commitLagMs).filter(Number.isFinite)), 0),
      maxWaiting: Math.max(0, ...timeline.map((x) => x.waiting)),
    };
  } finally {
    await pipeline.stop();
    await emulator.close();
  }
}

/**
 * Latency of each destination's first 2xx for every event published after `warmupEnd`: answer
 * time at its path − emulator write time.
 */
export function latencyByDestination(
  records: ReceiverRecords,
  publication: Publication,
  warmupEnd: number,
  destinations: readonly BenchDestination[],
): { measured: number; firstMeasured: number; each: Array<{ name: string; path: string; latencies: number[]; undelivered: number }> } {
  const answeredAt = destinations.map(() => new Map<string, number>());
  const slot = new Map(destinations.map((d, i) => [records.paths.indexOf(d.path), i]));
  for (let i = 0; i < records.ids.length; i += 1) {
    const map = answeredAt[slot.get(records.pathIndexes[i] as number) ?? -1];
    const id = records.ids[i] as string;
    if (map !== undefined && !map.has(id)) map.set(id, records.at[i] as number);
  }
  const each = destinations.map((d) => ({ name: d.name, path: d.path, latencies: [] as number[], undelivered: 0 }));
  let measured = 0;
  let firstMeasured = Number.NaN;
  for (let i = 0; i < publication.ids.length; i += 1) {
    const at = publication.at[i] as number;
    if (at < warmupEnd) continue;
    if (measured === 0) firstMeasured = at;
    measured += 1;
    each.forEach((d, k) => {
      const answered = answeredAt[k]?.get(publication.ids[i] as string);
      if (answered === undefined) d.undelivered += 1;
      else d.latencies.push(answered - at);
    });
  }
  return { measured, firstMeasured, each };
}

export function roundSummary(s: LatencySummary): LatencySummary {
  return { count: s.count, p50: round(s.p50, 1), p90: round(s.p90, 1), p99: round(s.p99, 1), p999: round(s.p999, 1), max: round(s.max, 1), mean: round(s.mean, 1) };
}

/** The drain against a receiver that answers after `delayMs`, with 1, then 3 … dispatchers. */
export async function scalingScenario(ctx: Context, backlog: Backlog, dispatchers: number): Promise<ScalingResult> {
  const delay = ctx.options.scalingDelayMs;
  const drained = await drainScenario(ctx, backlog, dispatchers, delay, `scaling-${dispatchers}`);
  return {
    dispatchers,
    events: drained.events,
    receiverDelayMs: delay,
    seconds: drained.seconds,
    eventsPerSecond: drained.eventsPerSecond,
    boundEventsPerSecond: delay > 0 ? round((dispatchers * ctx.options.concurrency * 1000) / delay, 0) : Number.POSITIVE_INFINITY,
    resources: drained.resources,
    check: drained.check,
    cpu: drained.cpu,
  };
}
