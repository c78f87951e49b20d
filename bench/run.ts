/**
 * `npm run bench`: throughput, latency and resource use of the real pipeline, everything on
 * loopback: the OpenCTI stream emulator and a lean webhook receiver in this process, a throwaway
 * redis-server per scenario with docker-compose.yml's Redis arguments (AOF everysec), and the
 * built ingester and dispatcher (dist/) as child processes. It prints markdown tables and writes
 * the full results as JSON.
 *
 * Scenarios (BENCH_SCENARIOS, comma-separated; default all of them, in this order):
 *   drain    N events already in the stream; a dispatcher is running; time from spawning the
 *            ingester until the receiver answered all N. Events/s.
 *   ceiling  a bare undici request() loop POSTing the same N bodies to the same receiver with the
 *            same concurrency (CONNECTOR_CONSUMER_COUNT). Drain / ceiling is the headline figure.
 *   queue    the ingester alone drains the N events into Redis (enqueue rate; Redis used_memory
 *            delta / N = memory per queued event), then a dispatcher alone empties that queue.
 *   live     the emulator publishes at fixed rates (BENCH_LIVE_RATES) for a fixed time; latency
 *            from the emulator writing the frame to the receiver answering 2xx, p50/p90/p99/max.
 *   scaling  the drain of BENCH_SCALING_EVENTS events with a receiver answering after
 *            BENCH_SCALING_DELAY_MS, with 1 and with 3 dispatcher processes.
 *   slow     each of BENCH_SLOW_BACKLOGS drained by one dispatcher with CONNECTOR_CONSUMER_COUNT=
 *            BENCH_SLOW_CONCURRENCY against a receiver answering after BENCH_SLOW_DELAY_MS, with
 *            packs (the default) and with INGESTER_EVENTS_PER_JOB=1; events/s from the first
 *            request to the last answer, and % of the bound concurrency / delay.
 *   filter   3 destinations, d3 with a FILTER that takes ~1 % of the workload (high-score
 *            indicators): the ingester alone fills the queues (Redis memory per queue), then
 *            each queue is emptied alone by a dispatcher of its own (DISPATCHER_DESTINATIONS);
 *            d3's cost against default's (issue #14: "1 % of events, 1 % of the cost").
 *   isolation  live at the first BENCH_LIVE_RATES rate to A, B, C (default, d2, d3) for
 *            BENCH_ISOLATION_SECONDS, twice: A healthy, then A answering 503 for the whole
 *            window; B/C latency ratio of the two runs, and A must get every event afterwards.
 * Drain, queue and live run with BENCH_DESTINATIONS destinations that take every event (default,
 * d2, d3, …), each at its own path of the one receiver (/d1, /d2, …) and its own queue; with
 * several, each is reported on its own, and Redis gets 1 GB of maxmemory per destination.
 * Every scenario also reports peak RSS (VmHWM) and CPU seconds (utime + stime) of the ingester,
 * dispatcher(s) and redis-server, read from /proc.
 *
 * Options (environment variables):
 *   BENCH_EVENTS               N for drain, ceiling and queue                 default 100000
 *   BENCH_CONCURRENCY          CONNECTOR_CONSUMER_COUNT, and the ceiling's    default 10
 *                              concurrency
 *   BENCH_SCENARIOS            subset to run, e.g. drain,ceiling              default all
 *   BENCH_DESTINATIONS         destinations taking every event in drain,      default 1
 *                              queue and live (dispatcher CPU is then per
 *                              delivery: events × destinations)
 *   BENCH_ISOLATION_SECONDS    measured seconds (and A's outage) per          default 60
 *                              isolation run
 *   BENCH_LIVE_RATES           events/s, comma-separated                      default 500,2000
 *   BENCH_LIVE_SECONDS         measured seconds per rate                      default 15
 *   BENCH_LIVE_WARMUP_SECONDS  published first and left out of the stats      default 5
 *                              (a cold pipeline queues a few hundred events)
 *   BENCH_LIVE_SETTLE_SECONDS  how long to wait for stragglers afterwards     default 30
 *   BENCH_SCALING_EVENTS       N for the scaling drains                       default 10000
 *   BENCH_SCALING_DELAY_MS     receiver answer delay in the scaling drains    default 50
 *   BENCH_SCALING_DISPATCHERS  dispatcher counts, comma-separated             default 1,3
 *   BENCH_SLOW_DELAY_MS        receiver answer delay in the slow drains       default 500
 *   BENCH_SLOW_CONCURRENCY     CONNECTOR_CONSUMER_COUNT in the slow drains    default 50
 *   BENCH_SLOW_BACKLOGS        backlogs of the slow drains, comma-separated   default
 *                                                                            200,1000,10000
 *   BENCH_POOL                 distinct envelopes built (then reused)         default 5000
 *   BENCH_EVENT_BYTES          every envelope this size (a report create), e.g. default the
 *                              1048576 with BENCH_POOL=20, for large-event    realistic mix
 *                              drains
 *   BENCH_TIMEOUT_S            limit of every wait in a scenario              default 300
 *   BENCH_OUT                  JSON results file        default bench/results/bench-results.json
 *   BENCH_PROFILE              1 or a directory: CPU-profile the product processes (V8
 *                              sampling profiler, as --cpu-prof; default dir
 *                              /tmp/opencti-webhook-prof), run only the drain unless
 *                              BENCH_SCENARIOS says otherwise, and print the top self-time
 *                              functions per process
 *   BENCH_LOG_LEVEL            CONNECTOR_LOG_LEVEL of the children            default info
 *   BENCH_ORDERING             WEBHOOK_ORDERING of the children (none, entity) default none
 *   BENCH_NODE_OPTIONS         NODE_OPTIONS of the children, to try runtime flags
 *                              (e.g. --max-semi-space-size=64)                default none
 *
 * Requirements: Linux (/proc), redis-server on the PATH, `npm run build` done (npm run bench
 * does it). A failed scenario is reported and the others still run; the exit code is then 1.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { stopAll } from '../test/helpers/processes.js';
import { nowMs } from './clock.js';
import { readOptions, type BenchOptions } from './options.js';
import { LeanReceiver } from './receiver.js';
import { filterScenario } from './filter-scenario.js';
import { isolationScenario } from './isolation.js';
import { formatReport, type BenchResults } from './report.js';
import { describeSlowDrain, slowScenario } from './slow-receiver.js';
import {
  ceilingScenario,
  drainScenario,
  liveScenario,
  prepareBacklog,
  queueScenario,
  scalingScenario,
  type Backlog,
  type Context,
} from './scenarios.js';
import { Workload } from './workload.js';

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\nbench: ${signal}; stopping the processes it started`);
    process.exit(130); // the helpers' exit handlers kill the product processes and redis-servers
  });
}

function command(file: string, args: string[]): string {
  try {
    return execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = readOptions();
  } catch (error) {
    console.error((error as Error).message);
    return 2;
  }
  const log = (line: string): void => console.log(line);
  const runStarted = nowMs();
  const redisVersion = /v=(\S+)/.exec(command('redis-server', ['--version']))?.[1];
  if (redisVersion === undefined) {
    console.error('bench: redis-server was not found on the PATH (the bench starts its own instances; it never uses the one on 6379)');
    return 2;
  }
  const startedAt = new Date().toISOString();
  const loadStart = loadavg();
  log(`opencti-webhook benchmark: ${options.scenarios.join(', ')}; N=${options.events}, concurrency ${options.concurrency}${options.destinations > 1 ? `, ${options.destinations} destinations` : ''}${options.profileDir ? `, CPU profiles in ${options.profileDir}` : ''}${options.nodeOptions ? `, NODE_OPTIONS=${options.nodeOptions}` : ''}`);

  const workload = Workload.generate(options.poolSize, undefined, options.eventBytes);
  log(`  workload: ${workload.stats.poolSize} distinct envelopes built in ${workload.stats.generationSeconds.toFixed(1)} s (mean ${workload.stats.meanBytes} B, p99 ${workload.stats.p99Bytes} B, max ${workload.stats.maxBytes} B)`);
  const receiver = await LeanReceiver.start();
  const ctx: Context = { options, receiver, workload, log };
  const errors: string[] = [];
  const partial: Partial<BenchResults> = {};

  const step = async <T>(name: string, run: () => Promise<T>): Promise<T | undefined> => {
    const started = nowMs();
    log(`▶ ${name}`);
    try {
      const result = await run();
      log(`  done in ${((nowMs() - started) / 1000).toFixed(1)} s`);
      return result;
    } catch (error) {
      const message = `${name}: ${error instanceof Error ? error.message : String(error)}`;
      errors.push(message);
      log(`  FAILED after ${((nowMs() - started) / 1000).toFixed(1)} s: ${message}`);
      await stopAll();
      return undefined;
    }
  };

  const wants = (s: (typeof options.scenarios)[number]): boolean => options.scenarios.includes(s);
  let backlog: Backlog | undefined;
  if (wants('drain') || wants('ceiling') || wants('queue') || wants('filter')) {
    const started = nowMs();
    backlog = await prepareBacklog(ctx, options.events);
    log(`  backlog: ${options.events} events (${(backlog.bytes / 1_048_576).toFixed(0)} MiB) published in ${((nowMs() - started) / 1000).toFixed(1)} s`);
    const b = backlog;
    if (wants('drain')) partial.drain = await step(`drain of ${options.events} events`, () => drainScenario(ctx, b));
    if (wants('drain') && partial.drain) log(`  ${partial.drain.eventsPerSecond} events/s`);
    if (wants('ceiling')) partial.ceiling = await step('ceiling (bare undici request() loop)', () => ceilingScenario(ctx, b));
    if (wants('ceiling') && partial.ceiling) log(`  ${partial.ceiling.eventsPerSecond} events/s`);
    if (wants('queue')) partial.queue = await step('queue: ingester alone, then dispatcher alone', () => queueScenario(ctx, b));
    if (wants('filter')) partial.filter = await step('filter: 3 destinations, one taking ~1 %; ingester alone, then each queue emptied alone', () => filterScenario(ctx, b));
    await backlog.emulator.close();
  }
  if (wants('live')) {
    partial.live = [];
    for (const rate of options.liveRates) {
      const result = await step(`live ${rate} events/s for ${options.liveWarmupSeconds} + ${options.liveSeconds} s`, () => liveScenario(ctx, rate));
      if (result) {
        partial.live.push(result);
        log(`  p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, max ${result.latencyMs.max} ms, ${result.undelivered} undelivered`);
      }
    }
  }
  if (wants('scaling')) {
    partial.scaling = [];
    const scalingBacklog = await prepareBacklog(ctx, options.scalingEvents);
    for (const dispatchers of options.scalingDispatchers) {
      const result = await step(`scaling: ${options.scalingEvents} events, receiver +${options.scalingDelayMs} ms, ${dispatchers} dispatcher(s)`, () => scalingScenario(ctx, scalingBacklog, dispatchers));
      if (result) {
        partial.scaling.push(result);
        log(`  ${result.eventsPerSecond} events/s (bound ${result.boundEventsPerSecond}/s)`);
      }
    }
    await scalingBacklog.emulator.close();
  }
  if (wants('slow')) {
    partial.slow = await step(`slow: backlogs of ${options.slowBacklogs.join(', ')} events, receiver +${options.slowDelayMs} ms, CONNECTOR_CONSUMER_COUNT=${options.slowConcurrency}, 1 dispatcher`, () =>
      slowScenario(ctx, (drain) => log(`  ${drain.backlog} events: ${describeSlowDrain(drain)}`)),
    );
  }
  const isolationRate = options.liveRates[0];
  if (wants('isolation') && isolationRate !== undefined) {
    partial.isolation = await step(`isolation: ${isolationRate} events/s to A, B, C for ${options.liveWarmupSeconds} + ${options.isolationSeconds} s, twice (A healthy, then A answering 503)`, () => isolationScenario(ctx, isolationRate));
    const iso = partial.isolation;
    if (iso) log(`  B p50 ×${iso.ratio.B.p50}, p99 ×${iso.ratio.B.p99}; C p50 ×${iso.ratio.C.p50}, p99 ×${iso.ratio.C.p99}; A ${iso.outage.a.allDelivered ? `got every event ${iso.outage.a.caughtUpAfterSeconds} s after its outage` : `misses ${iso.outage.a.missing} events`}`);
  }
  await receiver.close();

  const results: BenchResults = {
    startedAt,
    runSeconds: (nowMs() - runStarted) / 1000,
    commit: command('git', ['rev-parse', '--short', 'HEAD']),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.versions.node,
      redis: redisVersion,
      loadStart,
      loadEnd: loadavg(),
    },
    options,
    workload: workload.stats,
    ...partial,
    errors,
  };
  mkdirSync(dirname(options.out), { recursive: true });
  writeFileSync(options.out, `${JSON.stringify(results, null, 2)}\n`);
  log(`\n${formatReport(results)}\n\nresults written to ${options.out}`);
  return errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('bench: failed:', error);
    process.exit(1);
  },
);
