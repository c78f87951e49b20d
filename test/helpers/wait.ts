/**
 * Bounded waiting for tests.
 *
 * Every helper in `test/helpers/` takes *unscaled* timeouts and applies {@link scaled} itself,
 * so a slow machine (or CI) raises all of them at once with `TEST_TIMEOUT_SCALE=3` instead of
 * tests being edited one by one. Callers must not call `scaled()` on a timeout they pass to
 * these helpers, or it is scaled twice.
 *
 * A wait that gives up always says what it waited for, for how long, and what it saw last:
 * a bare "timeout" in a fault test is indistinguishable from flakiness.
 */
import { once as onceEvent, type EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';

function readScale(): number {
  const raw = Number(process.env.TEST_TIMEOUT_SCALE ?? 1);
  return Number.isFinite(raw) && raw > 0 ? raw : 1;
}

/** Multiplier for every test timeout, from `TEST_TIMEOUT_SCALE`. @defaultValue 1 */
export const TIMEOUT_SCALE: number = readScale();

/** `ms` multiplied by {@link TIMEOUT_SCALE}, rounded up to whole milliseconds. */
export function scaled(ms: number): number {
  return Math.ceil(ms * TIMEOUT_SCALE);
}

const MAX_DESCRIBE = 400;

/** Renders any value or error for a failure message, truncated to a readable length. */
export function describeValue(value: unknown, max = MAX_DESCRIBE): string {
  let text: string;
  if (value instanceof AggregateError) {
    text = `${value.name}: ${value.message} [${value.errors.map((e) => describeValue(e, 120)).join('; ')}]`;
  } else if (value instanceof Error) {
    const code = (value as NodeJS.ErrnoException).code;
    text = `${value.name}: ${value.message}${code === undefined ? '' : ` (${code})`}`;
  } else if (typeof value === 'string') {
    text = JSON.stringify(value);
  } else {
    text = inspect(value, { depth: 3, breakLength: Infinity });
  }
  return text.length > max ? `${text.slice(0, max)}… (${text.length} chars)` : text;
}

export interface WaitForOptions {
  /** Unscaled deadline in ms. */
  timeoutMs: number;
  /** Pause between probes in ms. @defaultValue 25 */
  intervalMs?: number;
  /** What is awaited, for the failure message ("3 jobs in the wait list"). */
  what: string;
  /** Stops waiting early; the wait rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * Polls `probe` until it returns a truthy value and resolves with that value.
 * A probe that throws counts as "not yet"; the last error is reported on timeout.
 * A probe that never settles is cut off at the deadline too.
 *
 * Prefer an event (see {@link once}) when one exists; poll only state that has no event.
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  opts: WaitForOptions,
): Promise<NonNullable<T>> {
  const timeoutMs = scaled(opts.timeoutMs);
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  const { signal } = opts;
  let attempts = 0;
  let seenValue = false;
  let lastValue: unknown;
  let lastError: unknown;
  let seenError = false;

  for (;;) {
    signal?.throwIfAborted();
    attempts += 1;
    try {
      const value = await withDeadline(Promise.resolve().then(probe), deadline - Date.now());
      if (value) return value;
      seenValue = true;
      lastValue = value;
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      seenError = true;
      lastError = err;
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const seen: string[] = [];
      if (seenValue) seen.push(`last value ${describeValue(lastValue)}`);
      if (seenError) seen.push(`last error ${describeValue(lastError)}`);
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${opts.what} ` +
          `(${attempts} probes; ${seen.join('; ') || 'probe never settled'})`,
      );
    }
    try {
      await sleep(Math.min(intervalMs, remaining), undefined, signal === undefined ? {} : { signal });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      throw err;
    }
  }
}

class DeadlineExceeded extends Error {
  constructor(ms: number) {
    super(`probe did not settle within the remaining ${ms} ms`);
    this.name = 'DeadlineExceeded';
  }
}

function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineExceeded(ms)), Math.max(ms, 0));
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Resolves with `promise`, or rejects after the (unscaled) `timeoutMs` with a message naming
 * `what`. The underlying operation is not cancelled.
 */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  const ms = scaled(timeoutMs);
  try {
    return await withDeadline(promise, ms);
  } catch (err) {
    if (err instanceof DeadlineExceeded) throw new Error(`timed out after ${ms} ms waiting for ${what}`, { cause: err });
    throw err;
  }
}

/**
 * Resolves with the arguments of the next `event` on `emitter`, or rejects after the
 * (unscaled) `timeoutMs`. Like `events.once`, it rejects if `'error'` is emitted first.
 */
export async function once<T extends unknown[] = unknown[]>(
  emitter: EventEmitter,
  event: string | symbol,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const ms = scaled(timeoutMs);
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    return (await onceEvent(emitter, event, { signal: ac.signal })) as T;
  } catch (err) {
    if (ac.signal.aborted) {
      throw new Error(`timed out after ${ms} ms waiting for ${what} (event ${String(event)})`, { cause: err });
    }
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
