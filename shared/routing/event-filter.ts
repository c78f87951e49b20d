import type { ForwardedEvent } from '../queue/contract.js';
import { createMarkingCheck, resolveMarkings } from '../opencti/markings.js';
import { dataIdAt, parsedData } from '../opencti/stix-id.js';

/**
 * Why a destination did not get an event (the `reason` label of the metric):
 * its allow-lists, its excluded markings, its FILTER being false, or its
 * FILTER failing on the event (ingester only).
 */
export type FilterReason = 'event_type' | 'entity_type' | 'marking' | 'filter' | 'filter_failed';
export const FILTER_REASONS: readonly FilterReason[] = ['event_type', 'entity_type', 'marking', 'filter', 'filter_failed'];

export interface EventFilterOptions {
  /** WEBHOOK_EVENT_TYPES: SSE event names to send; unset sends all. */
  eventTypes?: readonly string[] | undefined;
  /** WEBHOOK_ENTITY_TYPES: STIX types (lower case) to send; unset sends all. */
  entityTypes?: readonly string[] | undefined;
  /** WEBHOOK_MARKINGS_EXCLUDE, resolved to standard ids: events carrying one are not sent; unset or empty sends all. */
  excludedMarkings?: ReadonlySet<string> | undefined;
}

export type EventFilter = (event: ForwardedEvent, body: string) => FilterReason | undefined;

/** A destination's allow-lists and excluded markings, as read from its settings (WEBHOOK_* or DESTINATION_<NAME>_*). */
interface DestinationFilterSettings {
  variablePrefix: string;
  settings: { event_types?: readonly string[] | undefined; entity_types?: readonly string[] | undefined; markings_exclude?: readonly string[] | undefined };
}

/** The filter of one destination: the ingester applies it before queueing, the dispatcher again before sending. */
export function destinationFilter({ variablePrefix, settings }: DestinationFilterSettings): EventFilter | undefined {
  return createEventFilter({
    eventTypes: settings.event_types,
    entityTypes: settings.entity_types,
    excludedMarkings: settings.markings_exclude && resolveMarkings(settings.markings_exclude, `${variablePrefix}MARKINGS_EXCLUDE`),
  });
}

/**
 * The allow-lists and the marking exclusion as one check, or undefined when
 * nothing is filtered (the hot path then pays nothing). The cheap checks run
 * first; the marking check may parse the body.
 */
export function createEventFilter({ eventTypes, entityTypes, excludedMarkings }: EventFilterOptions): EventFilter | undefined {
  const marked = excludedMarkings && excludedMarkings.size > 0 ? createMarkingCheck(excludedMarkings) : undefined;
  if (!eventTypes && !entityTypes && !marked) return undefined;
  const events = eventTypes ? new Set(eventTypes) : undefined;
  const entities = entityTypes ? new Set(entityTypes) : undefined;
  return (event, body) => {
    if (events && !events.has(event)) return 'event_type';
    if (entities) {
      const type = stixTypeOf(body);
      if (type === undefined || !entities.has(type)) return 'entity_type';
    }
    if (marked?.(body)) return 'marking';
    return undefined;
  };
}

const STIX_TYPE = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
/** Longest STIX type we accept from the fast path; longer is parsed. */
const MAX_TYPE_LENGTH = 64;

/**
 * The STIX type of the event's object: the prefix of `data.id`
 * (`<type>--<uuid>`), found without parsing the body (see shared/opencti/stix-id.ts).
 * Falls back to JSON.parse, then to `data.type`. Undefined when the body
 * names no type.
 */
export function stixTypeOf(body: string): string | undefined {
  const start = dataIdAt(body);
  if (start !== undefined) {
    const end = body.indexOf('--', start);
    if (end > start && end - start <= MAX_TYPE_LENGTH) {
      const type = body.slice(start, end);
      if (STIX_TYPE.test(type)) return type;
    }
  }
  return parsedStixType(body);
}

function parsedStixType(body: string): string | undefined {
  const data = parsedData(body);
  if (data === undefined) return undefined;
  const { type, id } = data;
  const candidate = typeof id === 'string' && id.includes('--') ? id.slice(0, id.indexOf('--')) : typeof type === 'string' ? type : undefined;
  return candidate?.toLowerCase();
}
