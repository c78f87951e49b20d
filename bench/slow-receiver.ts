/**
 * The `slow` scenario: backlogs drained by one dispatcher against a receiver that answers after
 * BENCH_SLOW_DELAY_MS, with CONNECTOR_CONSUMER_COUNT=BENCH_SLOW_CONCURRENCY. The receiver's delay
 * alone bounds the drain at concurrency / delay events/s; how close each backlog comes to that
 * bound, with packs (the default INGESTER_EVENTS_PER_JOB) and with one event per job, says
 * whether packs cost concurrency (issue #16: ≥ 85 % of the bound for every backlog).
 */
import { benchDestinations } from './destinations.js';
import { CpuWindow, type CpuShare } from './resources.js';
import { round } from './stats.js';
import { check, prepareBacklog, race, resources, startPipeline, timeoutMs, type Context, type DeliveryCheck, type ResourceReport } from './scenarios.js';

export interface SlowDrain {
  backlog: number;
  /** INGESTER_EVENTS_PER_JOB of the run; undefined: the product's default (packs). */
  eventsPerJob: number | undefined;
  /** From the first request to the last answer: (last answer − first answer) + the delay. */
  seconds: number;
  eventsPerSecond: number;
  /** Percent of concurrency / delay. */
  ofBound: number;
  resources: ResourceReport;
  check: DeliveryCheck;
  cpu: CpuShare;
}

export interface SlowResult {
  delayMs: number;
  concurrency: number;
  boundEventsPerSecond: number;
  drains: SlowDrain[];
}

/** Packs (the default) first, then one event per job, for each backlog. */
const PACKINGS: ReadonlyArray<number | undefined> = [undefined, 1];

export async function slowScenario(ctx: Context, onDrain: (drain: SlowDrain) => void): Promise<SlowResult> {
  const { slowDelayMs: delayMs, slowConcurrency: concurrency, slowBacklogs } = ctx.options;
  const boundEventsPerSecond = (concurrency * 1000) / delayMs;
  const drains: SlowDrain[] = [];
  for (const events of slowBacklogs) {
    const backlog = await prepareBacklog(ctx, events);
    try {
      for (const eventsPerJob of PACKINGS) {
        const drain = await slowDrain(ctx, backlog, eventsPerJob, boundEventsPerSecond);
        drains.push(drain);
        onDrain(drain);
      }
    } finally {
      await backlog.emulator.close();
    }
  }
  return { delayMs, concurrency, boundEventsPerSecond: round(boundEventsPerSecond, 0), drains };
}

/**
 * One drain: the dispatcher waits, the ingester is spawned, the backlog flows through. Timed by
 * the receiver from the first request to the last answer, so the processes' start-up (which
 * weighs on a 2-second drain) is left out: what is measured is how many requests stay in flight.
 */
async function slowDrain(ctx: Context, backlog: Awaited<ReturnType<typeof prepareBacklog>>, eventsPerJob: number | undefined, bound: number): Promise<SlowDrain> {
  const { slowDelayMs: delayMs, slowConcurrency: concurrency } = ctx.options;
  const events = backlog.published.length;
  const destinations = benchDestinations(1);
  const env: Record<string, string> = { CONNECTOR_CONSUMER_COUNT: String(concurrency), ...(eventsPerJob === undefined ? {} : { INGESTER_EVENTS_PER_JOB: String(eventsPerJob) }) };
  const window = new CpuWindow();
  const pipeline = await startPipeline(ctx, backlog.emulator.url, destinations, { env });
  try {
    await ctx.receiver.reset(delayMs);
    await pipeline.startDispatchers(1);
    await pipeline.startIngester();
    await race(ctx.receiver.waitForUnique(events, timeoutMs(ctx), `${events} events delivered (slow receiver)`, destinations[0]!.path), pipeline);
    const usage = pipeline.usage();
    const cpu = window.end((usage.ingester?.cpuSeconds ?? 0) + usage.dispatchers.reduce((sum, u) => sum + u.cpuSeconds, 0) + usage.redis.cpuSeconds);
    const records = await ctx.receiver.collect();
    let first = Number.POSITIVE_INFINITY;
    let last = Number.NEGATIVE_INFINITY;
    for (const at of records.at) {
      first = Math.min(first, at);
      last = Math.max(last, at);
    }
    const seconds = (last - first + delayMs) / 1000;
    const eventsPerSecond = events / seconds;
    return {
      backlog: events,
      eventsPerJob,
      seconds: round(seconds, 2),
      eventsPerSecond: round(eventsPerSecond, 0),
      ofBound: round((100 * eventsPerSecond) / bound, 0),
      resources: resources(usage, events),
      check: check(records, new Map(backlog.published.map((p) => [p.id, p.bytes]))),
      cpu,
    };
  } finally {
    await pipeline.stop();
  }
}

/** The console line of one drain. */
export function describeSlowDrain(drain: SlowDrain): string {
  return `${drain.eventsPerSecond} events/s, ${drain.ofBound} % of the bound (${drain.eventsPerJob === undefined ? 'packs' : `INGESTER_EVENTS_PER_JOB=${drain.eventsPerJob}`})`;
}
