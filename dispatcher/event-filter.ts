import type { ForwardedEvent } from '../shared/queue.js';

/** Why an event was acknowledged without being sent (the `reason` label of the metric). */
export type FilterReason = 'event_type' | 'entity_type';
export const FILTER_REASONS: readonly FilterReason[] = ['event_type', 'entity_type'];

export interface EventFilterOptions {
  /** WEBHOOK_EVENT_TYPES: SSE event names to send; unset sends all. */
  eventTypes?: readonly string[] | undefined;
  /** WEBHOOK_ENTITY_TYPES: STIX types (lower case) to send; unset sends all. */
  entityTypes?: readonly string[] | undefined;
}

export type EventFilter = (event: ForwardedEvent, body: string) => FilterReason | undefined;

/** The allow-lists as one check, or undefined when nothing is filtered (the hot path then pays nothing). */
export function createEventFilter({ eventTypes, entityTypes }: EventFilterOptions): EventFilter | undefined {
  if (!eventTypes && !entityTypes) return undefined;
  const events = eventTypes ? new Set(eventTypes) : undefined;
  const entities = entityTypes ? new Set(entityTypes) : undefined;
  return (event, body) => {
    if (events && !events.has(event)) return 'event_type';
    if (entities) {
      const type = stixTypeOf(body);
      if (type === undefined || !entities.has(type)) return 'entity_type';
    }
    return undefined;
  };
}

const DATA_ID = '"data":{"id":"';
const STIX_TYPE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
/** Longest STIX type we accept from the fast path; longer is parsed. */
const MAX_TYPE_LENGTH = 64;

/**
 * The STIX type of the event's object: the prefix of `data.id`
 * (`<type>--<uuid>`), which OpenCTI writes near the start of the envelope.
 * Found without parsing the body: the first `"data":{"id":"` is the
 * envelope's own only if it sits at depth 1, which a scan of the bytes
 * before it tells (a few hundred bytes, strings skipped). Anything unusual
 * falls back to JSON.parse. Undefined when the body names no type.
 */
export function stixTypeOf(body: string): string | undefined {
  const at = body.indexOf(DATA_ID);
  if (at > 0 && depthAt(body, at) === 1) {
    const start = at + DATA_ID.length;
    const end = body.indexOf('--', start);
    if (end > start && end - start <= MAX_TYPE_LENGTH) {
      const type = body.slice(start, end);
      if (STIX_TYPE.test(type)) return type;
    }
  }
  return parsedStixType(body);
}

/** Object/array nesting depth at `end` (outside strings), counting from the start of `text`. */
function depthAt(text: string, end: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < end; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) depth += 1;
    else if (c === 0x7d || c === 0x5d) depth -= 1;
  }
  return inString ? -1 : depth;
}

function parsedStixType(body: string): string | undefined {
  let data: unknown;
  try {
    data = (JSON.parse(body) as { data?: unknown } | null)?.data;
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const { type, id } = data as { type?: unknown; id?: unknown };
  const candidate = typeof id === 'string' && id.includes('--') ? id.slice(0, id.indexOf('--')) : typeof type === 'string' ? type : undefined;
  return candidate?.toLowerCase();
}
