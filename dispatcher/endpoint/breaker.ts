import type { Queue } from 'bullmq';
import type { ErrorCode } from '../../shared/errors/codes.js';
import type { RedisClient } from '../../shared/redis/client.js';
import type { Logger } from '../../shared/observability/logger.js';
import type { EndpointState } from '../../shared/queue/contract.js';

export interface EndpointBreakerOptions {
  /** Consecutive failed attempts in one process that mean the endpoint, not an event, is failing. */
  failureThreshold: number;
  /** First pause before a probe; doubles after each failed probe. */
  probeInitialMs: number;
  /** Longest pause between two probes (a Retry-After is honoured up to this). */
  probeMaxMs: number;
  /** How often each process reads the shared state. @defaultValue 500 */
  pollMs?: number;
}

export interface EndpointBreakerDeps {
  redis: RedisClient;
  queue: Queue;
  /** Redis hash shared by every dispatcher of the connector. */
  key: string;
  /** Redis key present while an operator holds the queue paused (shared/queue/contract.ts operatorPauseKey). */
  operatorPauseKey: string;
  logger: Logger;
  onStateChange?: (state: EndpointState) => void;
  /** The state as this process knows it, for the gauge: undefined while the shared state cannot be read. */
  onObserved?: (state: EndpointState | undefined) => void;
}

// The shared state is a Redis hash: absent = delivering; `open` = paused
// until `probeAt`; `half-open` = one event at a time goes through as a probe;
// `closing` = the endpoint answered, the queue is being resumed. Transitions
// are Lua scripts so that many replicas tripping or probing at once act once.
const TRIP = `
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'open' then return 0 end
local now, initial, max, retryAfter = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local backoff = initial
if state == 'half-open' then backoff = math.min(tonumber(redis.call('HGET', KEYS[1], 'backoffMs')) * 2, max)
else redis.call('HSET', KEYS[1], 'openedAt', now) end
local wait = math.min(math.max(backoff, retryAfter), max)
redis.call('HSET', KEYS[1], 'state', 'open', 'probeAt', now + wait, 'backoffMs', backoff, 'reason', ARGV[5])
return wait`;
const PROBE = `
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'probeAt')) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'state', 'half-open')
return 1`;
const CLOSE = `
local state = redis.call('HGET', KEYS[1], 'state')
if state ~= 'open' and state ~= 'half-open' then return 0 end
redis.call('HSET', KEYS[1], 'state', 'closing')
return 1`;
const FINISH = `
if redis.call('HGET', KEYS[1], 'state') ~= 'closing' then return -1 end
local openedAt = redis.call('HGET', KEYS[1], 'openedAt')
redis.call('DEL', KEYS[1])
return tonumber(openedAt)`;

/**
 * Tells an endpoint outage from a bad event, for all replicas together.
 * After `failureThreshold` consecutive failed attempts in one process, the
 * queue is paused (BullMQ pause is global), so no worker of any replica
 * hammers a dead endpoint and no event burns its attempts. After a pause
 * that doubles up to `probeMaxMs`, the queue resumes with a global
 * concurrency of 1: the next event is the probe. Its 2xx resumes full
 * delivery; its failure pauses again. Every process reconciles the queue
 * with the shared state on each poll, so a dispatcher dying in the middle
 * of a transition leaves nothing stuck. A queue an operator paused (board,
 * CLI: `operatorPauseKey`) is never resumed nor given a global concurrency
 * here: an outage that ends during it leaves the queue paused for the
 * operator to resume, and no probe is sent until they do.
 */
export class EndpointBreaker {
  readonly #deps: EndpointBreakerDeps;
  readonly #options: Required<EndpointBreakerOptions>;
  #state: EndpointState = 'delivering';
  #observed: EndpointState | undefined | null = null;
  #consecutiveFailures = 0;
  #lastSuccessAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #stopped = false;

  constructor(deps: EndpointBreakerDeps, options: EndpointBreakerOptions) {
    this.#deps = deps;
    this.#options = { pollMs: 500, ...options };
  }

  get state(): EndpointState {
    return this.#state;
  }

  start(): void {
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#polling;
  }

  /** True when this process saw a 2xx after `time` (epoch ms). */
  succeededSince(time: number): boolean {
    return this.#lastSuccessAt > time;
  }

  recordSuccess(): void {
    this.#consecutiveFailures = 0;
    this.#lastSuccessAt = Date.now();
    if (this.#state === 'delivering') return;
    void this.#transition(CLOSE, []).then((closed) => (closed ? this.#poll() : undefined));
  }

  /**
   * Counts a failed attempt; returns true when the endpoint is considered
   * down, in which case the event must not be charged for the attempt.
   * `endpointLevel` failures (TLS) say so by themselves: they pause at once.
   * `code` is the failure's stable code (OWH_WEBHOOK_TLS), logged with the pause.
   */
  recordFailure(reason: string, retryAfterMs = 0, endpointLevel = false, code?: ErrorCode): boolean {
    this.#consecutiveFailures += 1;
    if (this.#state === 'paused') return true;
    if (this.#state === 'delivering' && !endpointLevel && this.#consecutiveFailures < this.#options.failureThreshold) return false;
    this.#setState('paused');
    const { probeInitialMs, probeMaxMs } = this.#options;
    void this.#transition(TRIP, [Date.now(), probeInitialMs, probeMaxMs, retryAfterMs, reason]).then((waitMs) => {
      if (waitMs) this.#deps.logger.warn({ reason, ...(code ? { code } : {}), probeInMs: waitMs, failures: this.#consecutiveFailures }, 'endpoint.paused');
      return this.#poll();
    });
    return true;
  }

  async #transition(script: string, args: Array<string | number>): Promise<number> {
    try {
      return Number(await this.#deps.redis.eval(script, 1, this.#deps.key, ...args));
    } catch (error) {
      this.#deps.logger.error({ err: { message: (error as Error).message } }, 'endpoint.state_update_failed');
      return 0;
    }
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#poll(), delayMs);
  }

  /** Reads the shared state and makes the queue match it. Never runs twice at once. */
  #poll(): Promise<void> {
    clearTimeout(this.#timer);
    this.#polling ??= this.#reconcile()
      .then(() => this.#observe(this.#state))
      .catch((error: Error) => {
        // Logged once per stretch of failures, not at every poll.
        if (this.#observed !== undefined) this.#deps.logger.error({ err: { message: error.message } }, 'endpoint.reconcile_failed');
        // Not knowing is shown as such: a stale `paused` would keep an alert firing, a stale `delivering` hide one.
        this.#observe(undefined);
      })
      .finally(() => {
        this.#polling = undefined;
        this.#schedule(this.#options.pollMs);
      });
    return this.#polling;
  }

  async #reconcile(): Promise<void> {
    const { redis, queue, key, logger } = this.#deps;
    const shared = await redis.hgetall(key);
    switch (shared.state) {
      case 'open':
        this.#setState('paused');
        if (!(await queue.isPaused())) await queue.pause();
        if (Number(shared.probeAt) <= Date.now() && !(await this.#operatorPaused()) && (await this.#transition(PROBE, [Date.now()]))) {
          await queue.setGlobalConcurrency(1);
          await this.#resume();
          logger.info({ outageMs: Date.now() - Number(shared.openedAt) }, 'endpoint.probing');
          this.#setState('probing');
        }
        return;
      case 'half-open':
        this.#setState('probing');
        if ((await queue.isPaused()) && !(await this.#operatorPaused())) {
          await queue.setGlobalConcurrency(1);
          await this.#resume();
        }
        return;
      case 'closing': {
        await queue.removeGlobalConcurrency();
        await this.#resume();
        const openedAt = await this.#transition(FINISH, []);
        if (openedAt > 0) logger.info({ outageMs: Date.now() - openedAt }, 'endpoint.resumed');
        this.#consecutiveFailures = 0;
        this.#setState('delivering');
        return;
      }
      default:
        this.#setState('delivering');
    }
  }

  #operatorPaused(): Promise<boolean> {
    return this.#deps.redis.exists(this.#deps.operatorPauseKey).then((count) => count > 0);
  }

  /** Resumes the queue unless an operator paused it; an operator pause that lands during the resume is restored. */
  async #resume(): Promise<void> {
    const { queue, logger } = this.#deps;
    if (await this.#operatorPaused()) {
      logger.info({ hint: 'the queue stays paused until the operator resumes it' }, 'endpoint.resume_left_to_operator');
      return;
    }
    await queue.resume();
    if (await this.#operatorPaused()) await queue.pause();
  }

  #setState(state: EndpointState): void {
    this.#observe(state);
    if (state === this.#state) return;
    this.#state = state;
    this.#deps.onStateChange?.(state);
  }

  #observe(state: EndpointState | undefined): void {
    if (state === this.#observed) return;
    this.#observed = state;
    this.#deps.onObserved?.(state);
  }
}
