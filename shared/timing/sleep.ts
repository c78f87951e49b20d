import { setTimeout as wait } from 'node:timers/promises';

export interface SleepOptions {
  /** Ends the wait early: the sleep resolves as soon as it aborts (at once if it already has). */
  signal?: AbortSignal;
  /** False: the wait alone does not keep the process alive. @defaultValue true */
  ref?: boolean;
}

/**
 * Resolves after `ms`, or when `signal` aborts. An abort resolves rather than
 * rejects: a loop that sleeps between rounds checks its own stop condition on
 * waking, and one that must fail instead calls `signal.throwIfAborted()`.
 */
export async function sleep(ms: number, { signal, ref = true }: SleepOptions = {}): Promise<void> {
  try {
    await wait(ms, undefined, { signal, ref });
  } catch (error) {
    if (!signal?.aborted) throw error;
  }
}
