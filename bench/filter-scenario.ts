/**
 * The `filter` scenario: three destinations, two that take every event and one (d3) whose FILTER
 * takes about 1 % of them, to check the claim of issue #14 that such a destination costs about
 * 1 % of the queue work and Redis memory of one that takes everything (the ingester filters
 * before it enqueues).
 *
 * The ingester alone fills the three queues (Redis memory per queue, from MEMORY USAGE of its
 * keys); then each queue is emptied in turn by a dispatcher of its own (DISPATCHER_DESTINATIONS),
 * the others paused, so the dispatcher CPU, Redis CPU and Redis script calls of that phase are
 * that destination's alone. Which events d3 must get is worked out here by evaluating the same
 * JSONata expression on every published body.
 */
import { Queue } from 'bullmq';
import jsonata from 'jsonata';
import { queuePrefix } from '../shared/queue/contract.js';
import { nowMs } from './clock.js';
import { benchDestinations, queueNameOf, type BenchDestination } from './destinations.js';
import { Pipeline, pollUntil } from './pipeline.js';
import { redisUsedMemory } from './resources.js';
import {
  check,
  commandStats,
  queueMemory,
  race,
  resources,
  startPipeline,
  timeoutMs,
  type Backlog,
  type Context,
  type DeliveryCheck,
  type QueueMemory,
  type ResourceReport,
} from './scenarios.js';
import { round } from './stats.js';
import type { Published } from './workload.js';

/**
 * "High-score indicators": indicators are 1/8 of the bench workload's objects and their
 * x_opencti_score is uniform over 50–99, so a score of 96 or more selects about 1 % of events.
 */
const ONE_PERCENT_FILTER = 'data.type = "indicator" and data.x_opencti_score >= 96';

interface FilteredDestination {
  name: string;
  path: string;
  /** Its FILTER, if any. */
  filter?: string;
  /** Events its filters take (worked out by the bench), and their share of all. */
  events: number;
  share: number;
  queue: QueueMemory;
  /** Emptying its queue alone with a dispatcher of its own. */
  dispatch: {
    seconds: number;
    dispatcherCpuSeconds: number;
    /** Dispatcher CPU per delivery, µs. */
    cpuMicrosPerDelivery: number;
    redisCpuSeconds: number;
    /** EVALSHA calls (BullMQ's Lua scripts: the queue work) and their total time in Redis. */
    redisScriptCalls: number;
    redisScriptSeconds: number;
  };
  check: DeliveryCheck;
}

export interface FilterResult {
  events: number;
  filter: string;
  ingesterOnly: { seconds: number; eventsPerSecond: number; resources: ResourceReport };
  /** INFO used_memory after the ingester minus before, all queues together. */
  redisBytes: number;
  destinations: FilteredDestination[];
  /** The filtered destination's cost / the first all-taking destination's, per measure. */
  ratio: { events: number; jobs: number; redisBytes: number; dispatcherCpu: number; redisCpu: number; redisScriptCalls: number };
}

/** Ids and body lengths of the published events the expression takes; bodies repeat (the workload's pool), so each is evaluated once. */
async function selectedBy(expression: string, published: readonly Published[]): Promise<Map<string, number>> {
  const compiled = jsonata(expression);
  const verdicts = new Map<string, boolean>();
  const selected = new Map<string, number>();
  for (const p of published) {
    let verdict = verdicts.get(p.body);
    if (verdict === undefined) {
      verdict = (await compiled.evaluate(JSON.parse(p.body), { event: p.event, streamId: p.id })) === true;
      verdicts.set(p.body, verdict);
    }
    if (verdict) selected.set(p.id, p.bytes);
  }
  return selected;
}

async function scriptStats(pipeline: Pipeline): Promise<{ calls: number; usec: number }> {
  const stats = await commandStats(pipeline.client, Number.POSITIVE_INFINITY);
  return stats.filter((s) => s.command === 'evalsha' || s.command === 'eval').reduce((sum, s) => ({ calls: sum.calls + s.calls, usec: sum.usec + s.usec }), { calls: 0, usec: 0 });
}

const ratio = (part: number, whole: number): number => round(part / Math.max(Number.MIN_VALUE, whole), 4);

export async function filterScenario(ctx: Context, backlog: Backlog): Promise<FilterResult> {
  const events = backlog.published.length;
  const destinations: BenchDestination[] = benchDestinations(3);
  const filtered = destinations[2] as BenchDestination;
  filtered.settings = { FILTER: ONE_PERCENT_FILTER };
  const all = new Map(backlog.published.map((p) => [p.id, p.bytes]));
  const expected = destinations.map((d) => (d === filtered ? undefined : all));
  const selected = await selectedBy(ONE_PERCENT_FILTER, backlog.published);
  expected[2] = selected;
  ctx.log(`    ${filtered.name} takes ${selected.size} of ${events} events (${((100 * selected.size) / events).toFixed(2)} %): ${ONE_PERCENT_FILTER}`);

  // Nothing drains the queues while the ingester fills them (see queueScenario).
  const pipeline = await startPipeline(ctx, backlog.emulator.url, destinations, { env: { INGESTER_MAX_QUEUED_EVENTS: '100000000' } });
  const queues = destinations.map((d) => new Queue(queueNameOf(pipeline.connectorId, d.name), { connection: pipeline.client, prefix: queuePrefix(pipeline.connectorId) }));
  try {
    await pipeline.client.config('RESETSTAT');
    const memoryBefore = await redisUsedMemory(pipeline.client);
    const last = backlog.published[backlog.published.length - 1]?.id ?? '';
    const started = nowMs();
    await pipeline.startIngester();
    await race(pollUntil(() => pipeline.ingested(last), timeoutMs(ctx), async () => `all ${events} events committed`, 50), pipeline);
    const ingestSeconds = (nowMs() - started) / 1000;
    const ingesterUsage = pipeline.usage();
    const redisBytes = (await redisUsedMemory(pipeline.client)) - memoryBefore;
    const memories: QueueMemory[] = [];
    for (const [i, d] of destinations.entries()) memories.push(await queueMemory(pipeline, d.name, expected[i]?.size ?? 0));
    await pipeline.stopIngester();
    // Each queue is emptied alone: the others wait paused (a pause the breaker leaves alone, its state being closed).
    for (const queue of queues) await queue.pause();
    await ctx.receiver.reset(0);

    const results: FilteredDestination[] = [];
    for (const [i, d] of destinations.entries()) {
      const want = expected[i] as Map<string, number>;
      const queue = queues[i] as Queue;
      const [dispatcher] = await pipeline.startDispatchers(1, { DISPATCHER_DESTINATIONS: d.name });
      if (dispatcher === undefined) throw new Error('bench: no dispatcher started');
      const before = pipeline.usage();
      const scriptsBefore = await scriptStats(pipeline);
      const dispatchStarted = nowMs();
      await queue.resume();
      await race(ctx.receiver.waitForUnique(want.size, timeoutMs(ctx), `${want.size} events delivered to ${d.name}`, d.path), pipeline);
      // Answered is not yet acknowledged: the queue's work ends when no job is left in it.
      await race(
        pollUntil(
          async () => {
            const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized');
            return Object.values(counts).every((n) => n === 0);
          },
          timeoutMs(ctx),
          async () => `${d.name}'s queue to empty (${JSON.stringify(await queue.getJobCounts())})`,
          50,
        ),
        pipeline,
      );
      const dispatchSeconds = (nowMs() - dispatchStarted) / 1000;
      const after = pipeline.usage();
      const scripts = await scriptStats(pipeline);
      const used = resources(after, want.size, before);
      const records = await ctx.receiver.collect();
      const dispatcherCpu = used.dispatcher?.cpuSeconds ?? 0;
      results.push({
        name: d.name,
        path: d.path,
        ...(d.settings.FILTER ? { filter: d.settings.FILTER } : {}),
        events: want.size,
        share: round(want.size / events, 4),
        queue: memories[i] as QueueMemory,
        dispatch: {
          seconds: round(dispatchSeconds, 2),
          dispatcherCpuSeconds: dispatcherCpu,
          cpuMicrosPerDelivery: round((dispatcherCpu * 1e6) / Math.max(1, want.size), 0),
          redisCpuSeconds: used.redis.cpuSeconds,
          redisScriptCalls: scripts.calls - scriptsBefore.calls,
          redisScriptSeconds: round((scripts.usec - scriptsBefore.usec) / 1e6, 3),
        },
        check: check(records, want, d.path),
      });
      await pipeline.stopDispatcher(dispatcher);
    }
    const full = results[0] as FilteredDestination;
    const small = results[2] as FilteredDestination;
    return {
      events,
      filter: ONE_PERCENT_FILTER,
      ingesterOnly: { seconds: round(ingestSeconds, 2), eventsPerSecond: round(events / ingestSeconds, 0), resources: resources(ingesterUsage, events) },
      redisBytes,
      destinations: results,
      ratio: {
        events: ratio(small.events, full.events),
        jobs: ratio(small.queue.jobs, full.queue.jobs),
        redisBytes: ratio(small.queue.bytes, full.queue.bytes),
        dispatcherCpu: ratio(small.dispatch.dispatcherCpuSeconds, full.dispatch.dispatcherCpuSeconds),
        redisCpu: ratio(small.dispatch.redisCpuSeconds, full.dispatch.redisCpuSeconds),
        redisScriptCalls: ratio(small.dispatch.redisScriptCalls, full.dispatch.redisScriptCalls),
      },
    };
  } finally {
    await Promise.all(queues.map((queue) => queue.close().catch(() => undefined)));
    await pipeline.stop();
  }
}
