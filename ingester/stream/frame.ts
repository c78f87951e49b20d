import { createHash } from 'node:crypto';
import { FORWARDED_EVENTS, type ForwardedEvent } from '../../shared/queue/contract.js';
import { parseStreamId, type StreamIdParts } from '../../shared/opencti/stream-id.js';

/** One SSE message as the stream client hands it over (see sse-parser.ts); `id` is '' when the frame had none. */
export interface RawFrame {
  event: string;
  id: string;
  data: string;
}

/** Frames newer platforms send about the stream itself (reference §3.6); never forwarded. */
const PLATFORM_FRAMES = ['consumer_metrics', 'no-recover', 'error'] as const;
export type PlatformFrameName = (typeof PLATFORM_FRAMES)[number];

export type Frame =
  | { kind: 'event'; event: ForwardedEvent; streamId: string; at: StreamIdParts; data: string }
  | { kind: 'heartbeat'; streamId: string; at: StreamIdParts }
  | { kind: 'connected'; data: string }
  | { kind: 'platform'; event: PlatformFrameName; data: string }
  | { kind: 'ignored'; reason: 'no-id' | 'not-data'; event: string }
  | { kind: 'malformed'; reason: string; event: string; id: string };

const FORWARDED = new Set<string>(FORWARDED_EVENTS);
const PLATFORM = new Set<string>(PLATFORM_FRAMES);

/**
 * Decides what a frame means (reference §3.2, §5.4). Dispatches on the SSE
 * event name, never on the envelope's `type`. Only heartbeats move the
 * position without an event: `consumer_metrics` and `no-recover` carry ids
 * that are not a safe resume point. `at`: the frame's id parsed (undefined
 * when it is not a stream id), for a caller that parsed it already.
 */
export function classifyFrame(frame: RawFrame, at = parseStreamId(frame.id)): Frame {
  if (frame.event === 'connected') return { kind: 'connected', data: frame.data };
  // Before the id checks: `error` has no id, and the others' ids are no resume point.
  if (PLATFORM.has(frame.event)) return { kind: 'platform', event: frame.event as PlatformFrameName, data: frame.data };
  if (frame.id === '') return { kind: 'ignored', reason: 'no-id', event: frame.event };
  if (!at) return { kind: 'malformed', reason: 'id is not <ms>-<seq>', event: frame.event, id: frame.id };
  if (frame.event === 'heartbeat') return { kind: 'heartbeat', streamId: frame.id, at };
  if (!FORWARDED.has(frame.event)) return { kind: 'ignored', reason: 'not-data', event: frame.event };
  if (!looksLikeJsonObject(frame.data)) {
    return { kind: 'malformed', reason: 'data is not a JSON object', event: frame.event, id: frame.id };
  }
  return { kind: 'event', event: frame.event as ForwardedEvent, streamId: frame.id, at, data: frame.data };
}

// A full JSON.parse per event would double the ingester's CPU for no benefit:
// the body is forwarded as is. This catches truncated and non-JSON frames.
function looksLikeJsonObject(data: string): boolean {
  return data.length >= 2 && data.charCodeAt(0) === 0x7b && data.charCodeAt(data.length - 1) === 0x7d;
}

/**
 * The stable id of one forwarded event: its webhook-id and BullMQ job id.
 * SSE ids are not unique (dependency frames reuse the id of the event that
 * caused them, and the platform may send a different set of them after a
 * reconnect), so the id also carries a digest of the frame. The same frame
 * replayed after a reconnect or restart gets the same id. `generation`
 * counts the connector state resets done in OpenCTI: after one, the same
 * frame is a new delivery and gets a new id (generation 0 adds nothing, so
 * ids from before resets existed are unchanged).
 */
export function eventId(event: string, streamId: string, data: string, generation = 0): string {
  const hash = createHash('sha1').update(event).update('\n').update(data);
  if (generation > 0) hash.update(`\n${generation}`);
  return `${streamId}-${hash.digest('hex').slice(0, 16)}`;
}
