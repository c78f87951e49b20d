import { markingName } from '../../shared/opencti/markings.js';
import { parseStreamId } from '../../shared/opencti/stream-id.js';
import { describeObject, isObject } from './describe.js';
import { FormatError, type OutgoingEvent } from './format.js';

/**
 * The JSONata variables every template gets, built-in or the user's: what
 * a readable message needs, computed once per event so templates stay
 * short. docs/formats.md lists them; keep the two in step.
 */

/** What the destination's settings fix for all its events. */
export interface BindingContext {
  /** OPENCTI_URL without a trailing slash. */
  readonly openctiUrl: string | undefined;
  readonly liveStreamId: string | undefined;
}

// A type, not an interface: it must fit the runner's Record<string, unknown>.
export type TemplateBindings = {
  event: OutgoingEvent['event'];
  webhookId: string;
  streamId: string;
  time: string | undefined;
  timeSeconds: number | undefined;
  stixId: string | undefined;
  entityType: string | undefined;
  name: string | undefined;
  link: string | undefined;
  markings: string[];
  message: string | undefined;
  userId: string | undefined;
  openctiUrl: string | undefined;
  openctiHost: string | undefined;
  liveStreamId: string | undefined;
};

/** Builds the bindings of one event; the settings' part is worked out once. */
export function bindingsFor(context: BindingContext): (event: OutgoingEvent) => TemplateBindings {
  const { openctiUrl, liveStreamId } = context;
  const openctiHost = openctiUrl === undefined ? undefined : new URL(openctiUrl).hostname;
  return (event) => {
    let envelope: unknown;
    try {
      envelope = JSON.parse(event.body);
    } catch {
      envelope = undefined;
    }
    if (!isObject(envelope)) throw new FormatError('not-json', 'the event is not a JSON object');
    const data = envelope['data'];
    const described = describeObject(data);
    const ms = parseStreamId(event.streamId)?.ms;
    const origin = envelope['origin'];
    return {
      event: event.event,
      webhookId: event.webhookId,
      streamId: event.streamId,
      time: ms === undefined ? undefined : new Date(ms).toISOString(),
      timeSeconds: ms === undefined ? undefined : ms / 1000,
      stixId: described.stixId,
      entityType: described.entityType,
      name: described.name,
      link: openctiUrl === undefined || described.linkId === undefined ? undefined : `${openctiUrl}/dashboard/id/${encodeURIComponent(described.linkId)}`,
      markings: markingsOf(data),
      message: typeof envelope['message'] === 'string' ? envelope['message'] : undefined,
      userId: isObject(origin) && typeof origin['user_id'] === 'string' ? origin['user_id'] : undefined,
      openctiUrl,
      openctiHost,
      liveStreamId,
    };
  };
}

function markingsOf(data: unknown): string[] {
  const refs = isObject(data) ? data['object_marking_refs'] : undefined;
  return Array.isArray(refs) ? refs.filter((ref): ref is string => typeof ref === 'string').map(markingName) : [];
}
