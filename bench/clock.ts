/**
 * One monotonic clock for every thread of the bench process (libuv's hrtime is process-wide),
 * in milliseconds with sub-millisecond resolution. Publication times (main thread) and receipt
 * times (receiver thread) are compared directly.
 */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
