export interface BackoffDelays {
  initialMs: number;
  maxMs: number;
}

/** Delay before the next attempt after `failures` failures in a row: doubles from `initialMs` up to `maxMs`, ±20 % jitter. */
export function backoffDelayMs(failures: number, { initialMs, maxMs }: BackoffDelays, random: () => number = Math.random): number {
  return Math.round(Math.min(maxMs, initialMs * 2 ** failures) * (0.8 + random() * 0.4));
}
