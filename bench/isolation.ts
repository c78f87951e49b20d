/**
 * The `isolation` scenario (issue #14, "Isolation"): a live stream at the first BENCH_LIVE_RATES
 * rate to three destinations A, B and C (default at /d1, d2 at /d2, d3 at /d3), served by one
 * dispatcher with the product's default breaker and retry settings. It runs twice: A healthy
 * (baseline), then A answering 503 for the whole measured window (BENCH_ISOLATION_SECONDS) and
 * healthy again afterwards. B's and C's latencies of the two runs are compared (target: within
 * 20 %), and A must lose nothing: every published event reaches it at least once after the
 * outage, and the run says how long after the outage's end that took.
 */
import { destinationKeys } from '../shared/queue/contract.js';
import { StreamEmulator } from '../test/helpers/stream-emulator.js';
import { nowMs } from './clock.js';
import { benchDestinations } from './destinations.js';
import { ReceiverTimeoutError } from './receiver.js';
import { check, latencyByDestination, race, roundSummary, startPipeline, timeoutMs, type Context, type DeliveryCheck, type DestinationLatency } from './scenarios.js';
import { round, summarise } from './stats.js';
import { publishAtRate } from './workload.js';

/** The destinations' roles, in benchDestinations order. */
const ROLES = ['A', 'B', 'C'] as const;

interface IsolationRun {
  /** A answered 503 during the measured window. */
  outage: boolean;
  /** Events published in the measured window (warm-up excluded), and all published. */
  published: number;
  publishedTotal: number;
  achievedRate: number;
  /** A, B, C: latency of each one's first 2xx, measured window only. */
  destinations: Array<DestinationLatency & { role: (typeof ROLES)[number] }>;
  a: {
    /** Requests A answered 503. */
    rejected: number;
    /** Every published event reached A at least once. */
    allDelivered: boolean;
    missing: number;
    /** From the end of the outage (or of publication, in the baseline) until A had every event. */
    caughtUpAfterSeconds: number;
    /** A's breaker states seen in Redis (sampled every 250 ms). */
    breakerStates: string[];
    check: DeliveryCheck;
  };
}

export interface IsolationResult {
  rate: number;
  seconds: number;
  baseline: IsolationRun;
  outage: IsolationRun;
  /** Outage run / baseline run, for B and C (≤ 1.2 meets the target). */
  ratio: Record<'B' | 'C', { p50: number; p99: number }>;
}

async function isolationRun(ctx: Context, rate: number, outage: boolean): Promise<IsolationRun> {
  const { isolationSeconds, liveWarmupSeconds, liveSettleSeconds } = ctx.options;
  const destinations = benchDestinations(3);
  const [a] = destinations;
  if (a === undefined) throw new Error('bench: no destination A');
  const emulator = await StreamEmulator.start({ heartbeatIntervalMs: 1_000 });
  const publisher = ctx.workload.attach(emulator);
  const pipeline = await startPipeline(ctx, emulator.url, destinations);
  const breakerStates = new Set<string>();
  const breaker = setInterval(() => {
    pipeline.client.hget(destinationKeys(pipeline.connectorId, a.name).endpoint, 'state').then(
      (state) => breakerStates.add(state ?? 'closed'),
      () => undefined,
    );
  }, 250);
  let outageTimer: NodeJS.Timeout | undefined;
  try {
    await ctx.receiver.reset(0);
    await pipeline.startDispatchers(1);
    await pipeline.startIngester();
    await race(emulator.waitForConnections(1, 15_000), pipeline);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    let outageEnd = Number.NaN;
    if (outage) {
      // A goes down when the measured window starts and comes back when it ends (the receiver's own clock).
      outageTimer = setTimeout(() => {
        outageEnd = nowMs() + isolationSeconds * 1_000;
        void ctx.receiver.outage(a.path, outageEnd);
      }, liveWarmupSeconds * 1_000);
    }
    const publication = await race(publishAtRate(publisher, rate, liveWarmupSeconds + isolationSeconds), pipeline);
    const total = publication.ids.length;
    for (const d of destinations.slice(1)) {
      try {
        await race(ctx.receiver.waitForUnique(total, liveSettleSeconds * 1_000, `${total} live events delivered to ${d.name}`, d.path), pipeline);
      } catch (error) {
        if (!(error instanceof ReceiverTimeoutError)) throw error;
        ctx.log(`    ${error.message}`);
      }
    }
    const caughtUpFrom = outage ? outageEnd : publication.lastAt;
    let caughtUpAt = Number.NaN;
    try {
      caughtUpAt = await race(ctx.receiver.waitForUnique(total, timeoutMs(ctx), `every one of the ${total} events delivered to A (${a.name}) after its outage`, a.path), pipeline);
    } catch (error) {
      if (!(error instanceof ReceiverTimeoutError)) throw error;
      ctx.log(`    ${error.message}`);
    }
    const records = await ctx.receiver.collect();
    const warmupEnd = publication.firstAt + liveWarmupSeconds * 1_000;
    const latency = latencyByDestination(records, publication, warmupEnd, destinations);
    const expected = new Map<string, number>();
    for (let i = 0; i < total; i += 1) expected.set(publication.ids[i] as string, publication.bytes[i] as number);
    const aCheck = check(records, expected, a.path);
    return {
      outage,
      published: latency.measured,
      publishedTotal: total,
      achievedRate: round(latency.measured / ((publication.lastAt - latency.firstMeasured) / 1000), 0),
      destinations: latency.each.map((d, i) => ({
        role: ROLES[i] ?? 'C',
        name: d.name,
        path: d.path,
        delivered: d.latencies.length,
        undelivered: d.undelivered,
        latencyMs: roundSummary(summariseMs(d.latencies)),
      })),
      a: {
        rejected: records.rejectedByPath[a.path] ?? 0,
        allDelivered: aCheck.unique === total && aCheck.unknown === 0,
        missing: total - aCheck.unique,
        caughtUpAfterSeconds: round(Math.max(0, caughtUpAt - caughtUpFrom) / 1000, 1),
        breakerStates: [...breakerStates],
        check: aCheck,
      },
    };
  } finally {
    clearTimeout(outageTimer);
    clearInterval(breaker);
    await pipeline.stop();
    await emulator.close();
  }
}

function summariseMs(latencies: number[]): ReturnType<typeof summarise> {
  return summarise(Float64Array.from(latencies));
}

export async function isolationScenario(ctx: Context, rate: number): Promise<IsolationResult> {
  ctx.log(`    baseline: A, B, C healthy`);
  const baseline = await isolationRun(ctx, rate, false);
  ctx.log(`    outage: A answers 503 for ${ctx.options.isolationSeconds} s`);
  const outage = await isolationRun(ctx, rate, true);
  const latencyOf = (run: IsolationRun, role: 'B' | 'C') => run.destinations.find((d) => d.role === role)?.latencyMs;
  const compare = (role: 'B' | 'C') => {
    const before = latencyOf(baseline, role);
    const during = latencyOf(outage, role);
    return { p50: round((during?.p50 ?? Number.NaN) / (before?.p50 ?? Number.NaN), 2), p99: round((during?.p99 ?? Number.NaN) / (before?.p99 ?? Number.NaN), 2) };
  };
  return { rate, seconds: ctx.options.isolationSeconds, baseline, outage, ratio: { B: compare('B'), C: compare('C') } };
}
