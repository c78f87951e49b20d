/**
 * How an event job reads on the board. Parsing the body happens only here,
 * when an operator looks at a page of jobs — never on the delivery path,
 * which forwards the stored string untouched.
 */

/** The OpenCTI extension carrying the platform's entity type and, for relationships, both ends' names. */
const OCTI_EXTENSION = 'extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba';
const MAX_TITLE = 140;

type Json = Record<string, unknown>;

/**
 * "create · Malware · Paradise Ransomware"; falls back to the job name when the
 * body is not an OpenCTI envelope. A pack reads "pack of 20 events: " and its
 * first event's title.
 */
export function eventTitle(job: { name?: unknown; data?: unknown }): string {
  const events = asObject(job.data).events;
  if (Array.isArray(events) && events.length > 0) return clip(`pack of ${events.length} events: ${singleEventTitle({ data: events[0] })}`);
  return clip(singleEventTitle(job));
}

function singleEventTitle(job: { name?: unknown; data?: unknown }): string {
  const data = asObject(job.data);
  const event = typeof data.event === 'string' ? data.event : typeof job.name === 'string' ? job.name : '';
  const stix = asObject(parseBody(data.body)).data;
  if (typeof stix !== 'object' || stix === null) return event;
  const object = stix as Json;
  const extension = asObject(asObject(object.extensions)[OCTI_EXTENSION]);
  const entityType = text(extension.type) ?? text(object.type) ?? 'unknown type';
  return [event, entityType, entityName(object, extension)].filter(Boolean).join(' · ');
}

function clip(title: string): string {
  return title.length > MAX_TITLE ? `${title.slice(0, MAX_TITLE - 1)}…` : title;
}

/** The job data with each body shown as the JSON it holds and receipt times readable; a pack, event by event. */
export function eventDataView(data: unknown): unknown {
  const events = asObject(data).events;
  if (Array.isArray(events)) return { ...asObject(data), events: events.map(singleEventView) };
  return singleEventView(data);
}

function singleEventView(data: unknown): unknown {
  const job = asObject(data);
  if (typeof job.body !== 'string') return data;
  const receivedAt = typeof job.receivedAt === 'number' ? new Date(job.receivedAt).toISOString() : job.receivedAt;
  return { ...job, receivedAt, body: parseBody(job.body) ?? job.body };
}

function entityName(object: Json, extension: Json): string | undefined {
  if (object.type === 'relationship') {
    const source = text(extension.source_value) ?? text(object.source_ref);
    const target = text(extension.target_value) ?? text(object.target_ref);
    return [source, text(object.relationship_type), target].filter(Boolean).join(' ');
  }
  return text(object.name) ?? text(object.value) ?? text(object.pattern) ?? text(object.id);
}

function parseBody(body: unknown): unknown {
  if (typeof body !== 'string') return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

function asObject(value: unknown): Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : {};
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}
