import type { EmittedFrame } from './stream-emulator.js';

/**
 * The frames a correct pipeline must deliver: every distinct data frame the
 * emulator wrote to any connection. A dependency frame sent again after a
 * reconnect is the same event (same id, same bytes) and counts once.
 */
export function expectedDeliveries(frames: readonly EmittedFrame[]): Map<string, EmittedFrame> {
  const unique = new Map<string, EmittedFrame>();
  for (const frame of frames) unique.set(`${frame.id}\n${frame.event}\n${frame.data}`, frame);
  return unique;
}
