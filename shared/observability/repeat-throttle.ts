/** How long an identical line is held back while it repeats. */
const DEFAULT_INTERVAL_MS = 60_000;
/** Kinds remembered at most; past it the oldest are forgotten (and may be written again early). */
const MAX_KINDS = 100;

/**
 * Decides which of many identical log lines to write, so that a failure
 * retried every few hundred milliseconds (a reconnecting Redis client) costs
 * one line per state change rather than one per retry: the first line of a
 * kind is written, the next ones at most once per interval with the number
 * held back meanwhile. `reset()` marks a state change (the connection is
 * back): the next failure, of any kind, is written at once.
 */
export class RepeatThrottle {
  readonly #seen = new Map<string, { writtenAt: number; held: number }>();

  constructor(
    private readonly intervalMs = DEFAULT_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** undefined: hold this line back. Otherwise write it, with `repeated` lines held back since the last one of its kind. */
  admit(kind: string): { repeated: number } | undefined {
    const now = this.now();
    const seen = this.#seen.get(kind);
    if (seen && now - seen.writtenAt < this.intervalMs) {
      seen.held += 1;
      return undefined;
    }
    this.#seen.delete(kind);
    if (this.#seen.size >= MAX_KINDS) this.#seen.delete(this.#seen.keys().next().value!);
    this.#seen.set(kind, { writtenAt: now, held: 0 });
    return { repeated: seen?.held ?? 0 };
  }

  reset(): void {
    this.#seen.clear();
  }
}
