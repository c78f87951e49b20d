/**
 * What a stream event is about, in words: the entity type, a name and the
 * id to link to, read from the STIX object as OpenCTI shows it
 * (stix-representative.ts, destination-formats.md §5). Only what the
 * readable formats need; unknown shapes fall back to the STIX id.
 */
const OCTI_EXT = 'extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba';

/** Observables and other objects without a `name`: the first of these that is set names them. */
const NAME_KEYS = [
  'name',
  'value',
  'abstract',
  'opinion',
  'key',
  'path',
  'account_login',
  'user_id',
  'iban',
  'account_number',
  'card_number',
  'subject',
  'title',
  'url',
  'number',
  'pid',
  'dst_port',
  'command_line',
] as const;
/** Hash preference of OpenCTI's hashValue, for files, artifacts and certificates. */
const HASHES = ['SHA-256', 'SHA-1', 'MD5', 'SHA-512'] as const;

export interface ObjectDescription {
  stixId: string | undefined;
  /** OpenCTI's type (`Malware`, `IPv4-Addr`, `uses`), else the STIX type. */
  entityType: string | undefined;
  name: string | undefined;
  /** The id `/dashboard/id/<id>` opens: OpenCTI's internal id when the event has it, else the STIX id. */
  linkId: string | undefined;
}

export function describeObject(data: unknown): ObjectDescription {
  if (!isObject(data)) return { stixId: undefined, entityType: undefined, name: undefined, linkId: undefined };
  const extension = isObject(data['extensions']) ? data['extensions'][OCTI_EXT] : undefined;
  const ext = isObject(extension) ? extension : {};
  const stixId = text(data['id']);
  return {
    stixId,
    entityType: text(ext['type']) ?? text(data['type']),
    name: nameOf(data, ext) ?? stixId,
    linkId: text(ext['id']) ?? stixId,
  };
}

function nameOf(data: Record<string, unknown>, ext: Record<string, unknown>): string | undefined {
  switch (data['type']) {
    case 'sighting':
      return `${text(ext['sighting_of_value']) ?? text(data['sighting_of_ref']) ?? '?'} sighted in/at ${list(ext['where_sighted_values']) ?? list(data['where_sighted_refs']) ?? '?'}`;
    case 'relationship':
      return `${text(ext['source_value']) ?? text(data['source_ref']) ?? '?'} ${text(data['relationship_type']) ?? 'related-to'} ${text(ext['target_value']) ?? text(data['target_ref']) ?? '?'}`;
    case 'observed-data':
      return `${text(data['first_observed']) ?? '-inf'} - ${text(data['last_observed']) ?? '+inf'}`;
  }
  const hashes = data['hashes'];
  if (isObject(hashes)) {
    const hash = HASHES.map((algorithm) => text(hashes[algorithm])).find((value) => value !== undefined) ?? Object.values(hashes).map(text).find((value) => value !== undefined);
    if (hash !== undefined) return hash;
  }
  for (const key of NAME_KEYS) {
    const value = data[key];
    if (typeof value === 'number') return String(value);
    const name = text(value);
    if (name !== undefined) return name;
  }
  return undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function list(value: unknown): string | undefined {
  if (typeof value === 'string') return text(value);
  if (!Array.isArray(value)) return undefined;
  const items = value.filter((item): item is string => typeof item === 'string' && item.length > 0);
  return items.length > 0 ? items.join(', ') : undefined;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
