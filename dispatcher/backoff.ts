export interface RetryPolicy {
  /** Attempts per event, the first one included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * Delay before the next attempt, or -1 when the event has had its attempts
 * (BullMQ then moves it to the failed set). Exponential from `baseDelayMs`
 * with ±20 % jitter so the retries of a burst spread out, never before a
 * `Retry-After` the endpoint asked for, and never above `maxDelayMs`.
 */
export function retryDelayMs(
  attemptsMade: number,
  policy: RetryPolicy,
  retryAfterMs = 0,
  random: () => number = Math.random,
): number {
  if (attemptsMade >= policy.attempts) return -1;
  const exponential = policy.baseDelayMs * 2 ** Math.max(0, attemptsMade - 1);
  const jittered = Math.min(exponential, policy.maxDelayMs) * (0.8 + 0.4 * random());
  return Math.round(Math.min(Math.max(jittered, retryAfterMs), policy.maxDelayMs));
}
