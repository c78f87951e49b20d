/** A capped exponential backoff: the delay doubles from `initialMs` with each step, up to `maxMs`. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
  /**
   * Share of the delay added or taken at random, so that the retries of many
   * clients failing together spread out. A single writer retrying its own
   * work has no crowd to spread, and may do without (0). @defaultValue 0.2
   */
  jitter?: number;
}

const DEFAULT_JITTER = 0.2;

/**
 * Delay before the next attempt after `failures` failures in a row (0: the
 * first retry waits about `initialMs`). The cap applies before the jitter:
 * a capped delay still varies, so retries never fall into step.
 */
export function backoffDelayMs(failures: number, backoff: Backoff, random: () => number = Math.random): number {
  return Math.round(jittered(failures, backoff, random));
}

/** What a webhook event may spend on retries (WEBHOOK_RETRY_*). */
export interface RetryPolicy {
  /** Attempts per event, the first one included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * Delay before the next delivery attempt, or -1 when the event has had its
 * attempts (BullMQ then moves it to the failed set). The backoff above from
 * `baseDelayMs`, never before a `Retry-After` the endpoint asked for, and
 * never above `maxDelayMs` (jitter and Retry-After included: the setting is
 * documented as the longest delay between two attempts).
 */
export function retryDelayMs(attemptsMade: number, policy: RetryPolicy, retryAfterMs = 0, random: () => number = Math.random): number {
  if (attemptsMade >= policy.attempts) return -1;
  const delay = jittered(Math.max(0, attemptsMade - 1), { initialMs: policy.baseDelayMs, maxMs: policy.maxDelayMs }, random);
  return Math.round(Math.min(Math.max(delay, retryAfterMs), policy.maxDelayMs));
}

function jittered(failures: number, { initialMs, maxMs, jitter = DEFAULT_JITTER }: Backoff, random: () => number): number {
  return Math.min(maxMs, initialMs * 2 ** failures) * (1 - jitter + 2 * jitter * random());
}
