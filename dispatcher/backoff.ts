export interface RetryPolicy {
  /** Attempts per event, the first one included. */
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

/**
 * Delay before the next attempt, or -1 when the event has had its attempts
 * (BullMQ then moves it to the failed set). Exponential from `baseDelayMs`,
 * capped at `maxDelayMs`, with ±20 % jitter so retries of a burst spread out.
 */
export function retryDelayMs(attemptsMade: number, policy: RetryPolicy, random: () => number = Math.random): number {
  if (attemptsMade >= policy.attempts) return -1;
  const exponential = policy.baseDelayMs * 2 ** Math.max(0, attemptsMade - 1);
  const jittered = Math.min(exponential, policy.maxDelayMs) * (0.8 + 0.4 * random());
  return Math.round(Math.min(jittered, policy.maxDelayMs));
}
