/** One line of `check`'s report, and what the probes share. */

export const RESULTS = ['ok', 'warn', 'fail', 'skipped'] as const;
type CheckResult = (typeof RESULTS)[number];

export interface CheckRow {
  /** What was checked: config, redis, opencti api, live stream, webhook. */
  check: string;
  /** Which process, server or destination; never with credentials. */
  target: string;
  result: CheckResult;
  /** Why, in words an operator acts on; never a secret. */
  detail: string;
}

/**
 * `work`, or `onTimeout()` once `timeoutMs` passed without an answer: for
 * probes whose client has no deadline of its own for every step (a Redis
 * connection, a Cluster's slot map). The work left behind is the caller's
 * to stop (close its client).
 */
export async function withDeadline<T>(work: Promise<T>, timeoutMs: number, onTimeout: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout()), timeoutMs);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
