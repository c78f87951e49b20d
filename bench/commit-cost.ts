/**
 * Micro-benchmark of one ingester commit (jobs + entity line-ups + cursor in
 * one MULTI), in process against a throwaway redis-server: wall time per
 * commit as the enqueuer sees it, and Redis CPU per commit from INFO
 * commandstats (EXEC's time includes the commands of its MULTI; the cursor's
 * own command is listed apart). Full batches of 200 events of 1 KiB, packed
 * 20 per job (the default) and 1 per job (live traffic, per-entity ordering).
 *   npm run build && node dist/bench/commit-cost.js [commits per case, default 300]
 */
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { CursorStore } from '../ingester/position/cursor-store.js';
import { Enqueuer } from '../ingester/commit/enqueuer.js';
import { createLogger } from '../shared/observability/logger.js';
import { QUEUE_NAME, cursorKey, queuePrefix } from '../shared/queue/contract.js';
import { RedisServer } from '../test/helpers/redis-server.js';
import { Router } from '../ingester/routing/router.js';

const BATCH = 200;
const commits = Number(process.argv[2] ?? 300);

/** usec and calls of each command since the last reset. */
async function commandStats(redis: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const stats = new Map<string, { calls: number; usec: number }>();
  for (const match of (await redis.info('commandstats')).matchAll(/^cmdstat_(\w+):calls=(\d+),usec=(\d+)/gm)) {
    stats.set(match[1]!, { calls: Number(match[2]), usec: Number(match[3]) });
  }
  return stats;
}

/**
 * The duration in µs of each EVAL (the cursor write) still in the slow log,
 * which logs every command (see below): a median is not skewed by the Lua
 * garbage collection steps that fall on whichever script runs then.
 */
async function evalDurations(redis: Redis): Promise<number[]> {
  const entries = (await redis.slowlog('GET', -1)) as Array<[number, number, number, string[]]>;
  return entries.filter(([, , , args]) => args[0]?.toLowerCase() === 'eval').map(([, , usec]) => usec);
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function measure(redis: Redis, eventsPerJob: number): Promise<string> {
  const connector = `commit-cost-${eventsPerJob}`;
  const queue = new Queue(QUEUE_NAME, { connection: redis, prefix: queuePrefix(connector) });
  let position = 0;
  const durations: number[] = [];
  const enqueuer = new Enqueuer(
    {
      router: new Router({
        routes: [{ name: 'default', queue, orderScope: queuePrefix(connector), filter: undefined, expression: false, ordered: false }],
        onFiltered: () => undefined,
        logger: createLogger('bench', 'error'),
      }),
      cursor: new CursorStore(redis, cursorKey(connector)),
      snapshot: () => ({ resumeFrom: `${position}-0`, openEventIds: [], recoverUntil: false, generation: 0 }),
      logger: createLogger('bench', 'error'),
      startCommit: 0,
      onCommitted: (_cursor, batch, durationMs) => void (batch.length > 0 && durations.push(durationMs)),
      onLostWrites: () => {
        throw new Error('lost writes');
      },
    },
    { maxBatchEvents: BATCH, eventsPerJob },
  );
  const body = JSON.stringify({ data: { id: 'x', description: 'x'.repeat(1_000) } });
  const round = async () => {
    for (let i = 0; i < BATCH; i += 1) {
      position += 1;
      enqueuer.add({ eventId: `e${position}`, job: { event: 'create', streamId: `${position}-0`, body, receivedAt: 0 } });
    }
    await enqueuer.flushed();
  };
  for (let i = 0; i < 20; i += 1) await round(); // warm-up
  durations.length = 0;
  await redis.config('RESETSTAT');
  await redis.slowlog('RESET');
  const cpuBefore = process.cpuUsage();
  for (let i = 0; i < commits; i += 1) await round();
  const cpu = process.cpuUsage(cpuBefore);
  const stats = await commandStats(redis);
  const evals = await evalDurations(redis);
  await queue.close();
  const exec = stats.get('exec') ?? { calls: 0, usec: 0 };
  const cursorCommands = ['eval', 'evalsha', 'exists', 'hgetall', 'hset', 'hmset'].flatMap((name) => {
    const stat = stats.get(name);
    return stat ? [`${name} ${(stat.usec / stat.calls).toFixed(1)} µs × ${(stat.calls / exec.calls).toFixed(2)}`] : [];
  });
  const at = (q: number) => quantile(durations, q).toFixed(1);
  return [
    `${eventsPerJob} event(s) per job, ${commits} commits of ${BATCH} events:`,
    `  wall per commit: p50 ${at(0.5)} ms, p90 ${at(0.9)} ms`,
    `  Redis per commit (EXEC, with its MULTI's commands): ${(exec.usec / exec.calls).toFixed(0)} µs`,
    `  commands per commit (mean µs × calls, Lua's inner calls included): ${cursorCommands.join('; ')}`,
    ...(evals.length > 0 ? [`  the cursor's EVAL: p50 ${quantile(evals, 0.5)} µs, p90 ${quantile(evals, 0.9)} µs (last ${evals.length})`] : []),
    `  ingester CPU per commit: ${((cpu.user + cpu.system) / commits).toFixed(0)} µs`,
  ].join('\n');
}

const server = await RedisServer.start();
const redis = server.client();
await redis.config('SET', 'slowlog-log-slower-than', '0');
await redis.config('SET', 'slowlog-max-len', '100000');
try {
  for (const eventsPerJob of [20, 1]) console.log(await measure(redis, eventsPerJob));
} finally {
  redis.disconnect();
  await server.stop();
}
