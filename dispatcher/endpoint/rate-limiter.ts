import type { RedisClient } from '../../shared/redis/client.js';
import { sleep } from '../../shared/timing/sleep.js';

// GCRA with reservations, on Redis' clock: KEYS[1] holds the time (µs) from
// which the next request may go. A caller reserves that slot and moves it one
// interval on, unless it lies more than `horizon` ahead: then it is told when
// to ask again. Times are whole microseconds written with %.0f (Lua would
// print 1.7e15 with 14 significant digits).
const RESERVE = `
redis.replicate_commands()
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval, horizon = tonumber(ARGV[1]), tonumber(ARGV[2])
local slot = math.max(tonumber(redis.call('GET', KEYS[1]) or 0), now)
if slot - now > horizon then return {0, slot - now - horizon} end
local nextSlot = slot + interval
redis.call('SET', KEYS[1], string.format('%.0f', nextSlot), 'PX', string.format('%.0f', math.ceil((nextSlot - now) / 1000) + 1000))
return {1, slot - now}`;

const COMMAND = 'openctiWebhookReserveSlot';
type ReserveCommand = (key: string, intervalUs: number, horizonUs: number) => Promise<[reserved: number, waitUs: number]>;

/**
 * The most requests per second all dispatchers together send to the
 * endpoint. Every request takes a slot from one schedule in Redis, slots one
 * interval apart, so requests are spread evenly (no bursts at window edges)
 * and only requests count: filtered events and jobs that wait cost nothing.
 * A caller waits for its slot; slots are handed out at most `horizon`
 * ahead (1 s, or one interval when that is longer), so a dispatcher that
 * stops leaves at most that much of the schedule unused.
 *
 * Not BullMQ's limiter (Worker `limiter`, `queue.setGlobalRateLimit`): in
 * 6.7 it is one fixed window per queue, counted as jobs become active
 * (moveToActive.lua), so filtered events and postponed jobs would spend it,
 * and each window's quota leaves in one burst at the window's start.
 */
export class RateLimiter {
  readonly #redis: RedisClient;
  readonly #key: string;
  readonly #intervalUs: number;
  readonly #horizonUs: number;

  constructor(redis: RedisClient, key: string, perSecond: number) {
    // A defined command runs by EVALSHA: the script is not sent with every request.
    if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: RESERVE });
    this.#redis = redis;
    this.#key = key;
    this.#intervalUs = Math.max(1, Math.round(1_000_000 / perSecond));
    this.#horizonUs = Math.max(1_000_000, this.#intervalUs);
  }

  /** Resolves when this process may send one request; returns the milliseconds waited. */
  async acquire(): Promise<number> {
    const started = performance.now();
    for (;;) {
      const reserve = (this.#redis as unknown as Record<typeof COMMAND, ReserveCommand>)[COMMAND];
      const [reserved, waitUs] = await reserve.call(this.#redis, this.#key, this.#intervalUs, this.#horizonUs);
      if (waitUs > 0) await sleep(waitUs / 1000);
      if (reserved === 1) return performance.now() - started;
    }
  }
}
