import { createHash } from 'node:crypto';
import { ErrorCode } from '../errors/codes.js';
import { OwhError } from '../errors/owh-error.js';

/**
 * OpenCTI marking definitions, for keeping marked data away from a
 * destination: which standard ids the configured names and ids stand for,
 * and which of those an event carries. Pure: the caller passes the settings
 * (WEBHOOK_MARKINGS_EXCLUDE today, one list per destination later).
 *
 * Events name markings only by standard id (`data.object_marking_refs`,
 * `marking-definition--<uuid>`), never by name, so names are turned into ids
 * once, at start. See docs/security.md#keeping-marked-data-in.
 */

/** The namespace of OpenCTI's uuidv5 standard ids (opencti-graphql identifier.js). */
const OPENCTI_NAMESPACE = '00abedb4-aa42-466c-9c01-fed23315a9b7';

/**
 * OpenCTI's built-in TLP markings have fixed ids (identifier.js
 * STATIC_STANDARD_IDS): the STIX 2.1 ones, OpenCTI's own AMBER+STRICT, and
 * WHITE as another name of CLEAR. They are not uuidv5 of their definition.
 */
const BUILT_IN_TLP: Readonly<Record<string, string>> = {
  'TLP:CLEAR': 'marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9',
  'TLP:WHITE': 'marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9',
  'TLP:GREEN': 'marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da',
  'TLP:AMBER': 'marking-definition--f88d31f6-486f-44da-b317-01333bde0b82',
  'TLP:AMBER+STRICT': 'marking-definition--826578e1-40ad-459f-bc73-ede076f81f37',
  'TLP:RED': 'marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed',
};

const MARKING_ID = /^marking-definition--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** `TYPE:VALUE`: the definition of a marking, its type before the first colon. */
const MARKING_NAME = /^([^\s,:]+):[^\s,]+$/;

/** A configured item: a marking's definition (`TLP:RED`, `PAP:AMBER`, `ACME:INTERNAL`) or its standard id. */
export const MARKING_ITEM = new RegExp(`${MARKING_ID.source}|${MARKING_NAME.source}`, 'i');
export const MARKING_ITEM_ACCEPTED =
  'marking definitions as TYPE:VALUE (TLP:RED, TLP:AMBER+STRICT, PAP:RED, a custom ACME:INTERNAL; no spaces) or marking-definition--<uuid> ids';

/** RFC 4122 version 5 UUID (SHA-1), as the `uuid` package's v5 computes it. */
function uuidv5(name: string, namespace: string): string {
  const hash = createHash('sha1')
    .update(Buffer.from(namespace.replace(/-/g, ''), 'hex'))
    .update(name, 'utf8')
    .digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * The standard id of one configured item, or undefined when it is neither a
 * name nor an id. Names are upper-cased (the configuration lower-cases list
 * items; OpenCTI stores definitions upper-cased). A name that is not a
 * built-in TLP gets the id OpenCTI computes for a marking of that definition:
 * uuidv5 of the canonical JSON `{"definition":"TYPE:VALUE","definition_type":"TYPE"}`.
 */
export function markingIdOf(item: string): string | undefined {
  if (MARKING_ID.test(item)) return item.toLowerCase();
  const name = item.toUpperCase();
  const match = MARKING_NAME.exec(name);
  if (!match) return undefined;
  const builtIn = BUILT_IN_TLP[name];
  if (builtIn !== undefined) return builtIn;
  // Keys in canonical (sorted) order, as OpenCTI's jsonCanonicalize writes them.
  return `marking-definition--${uuidv5(JSON.stringify({ definition: name, definition_type: match[1] }), OPENCTI_NAMESPACE)}`;
}

/**
 * Names of the markings whose standard id is known without asking OpenCTI:
 * the built-in TLP ones (CLEAR, not WHITE, for the shared id) and PAP ones.
 */
const KNOWN_NAMES: ReadonlyMap<string, string> = new Map(
  ['TLP:CLEAR', 'TLP:GREEN', 'TLP:AMBER', 'TLP:AMBER+STRICT', 'TLP:RED', 'PAP:CLEAR', 'PAP:GREEN', 'PAP:AMBER', 'PAP:RED'].map(
    (name) => [markingIdOf(name)!, name] as const,
  ),
);

/**
 * The name of a marking for people to read (formats for chat tools): a
 * built-in TLP or PAP name, else the id itself, since events carry ids only
 * and custom names are not known here.
 */
export function markingName(id: string): string {
  return KNOWN_NAMES.get(id.toLowerCase()) ?? id;
}

/** A configured item that is neither a name nor an id (the configuration schema refuses them first). */
class MarkingSettingError extends OwhError {
  readonly code = ErrorCode.config;
}

/**
 * The standard ids of the configured items of `setting` (the variable named
 * in the error); throws for an item that is neither a name nor an id, since
 * skipping it would send what the operator meant to keep in.
 */
export function resolveMarkings(items: readonly string[], setting: string): ReadonlySet<string> {
  const ids = items.map((item) => [item, markingIdOf(item)] as const);
  const refused = ids.filter(([, id]) => id === undefined).map(([item]) => JSON.stringify(item));
  if (refused.length > 0) throw new MarkingSettingError(`${setting} holds ${refused.join(', ')}: it accepts ${MARKING_ITEM_ACCEPTED}`);
  return new Set(ids.map(([, id]) => id!));
}

/**
 * The marking ids an event carries: its object's `object_marking_refs`
 * now; for an update (or merge), also those the object had before it, which
 * `context.reverse_patch` puts back (a removal in `patch` never names the
 * id); for a merge, those of the absorbed objects in `context.sources`,
 * whose data the event also carries. Undefined when the body is not a JSON
 * envelope. The extension's `*_ref_object_marking_refs` of relationships and
 * sightings hold internal ids of the ends' markings, not standard ids: they
 * are not read, so a relationship counts by its own markings only.
 */
export function eventMarkings(body: string): Set<string> | undefined {
  let envelope: unknown;
  try {
    envelope = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!isObject(envelope)) return undefined;
  const ids = new Set<string>();
  addRefs(ids, envelope['data']);
  const context = envelope['context'];
  if (isObject(context)) {
    const reverse = context['reverse_patch'];
    if (Array.isArray(reverse)) for (const op of reverse) addReverseOperation(ids, op);
    const sources = context['sources'];
    if (Array.isArray(sources)) for (const source of sources) addRefs(ids, source);
  }
  return ids;
}

/**
 * Whether an event must not be sent: it carries one of `excluded` (see
 * eventMarkings). Most events carry none of the ids anywhere in their text,
 * which a substring test tells without parsing; only the others are parsed.
 * A body that holds an excluded id but cannot be parsed is excluded: the
 * rule errs on the side of keeping data in.
 */
export function createMarkingCheck(excluded: ReadonlySet<string>): (body: string) => boolean {
  const needles = [...excluded];
  return (body) => {
    if (!needles.some((id) => body.includes(id))) return false;
    const carried = eventMarkings(body);
    return carried === undefined || needles.some((id) => carried.has(id));
  };
}

const REFS = '/object_marking_refs';

/**
 * Adds what one reverse_patch operation puts back into object_marking_refs.
 * fast-json-patch `compare` writes the whole list (`add /object_marking_refs
 * [...]`) or items (`add|replace /object_marking_refs/<n> <id>`); `remove`
 * puts nothing back. Every id it writes was on the object before, so taking
 * them all (without replaying indexes) gives exactly "before ∪ now".
 */
function addReverseOperation(ids: Set<string>, op: unknown): void {
  if (!isObject(op) || typeof op['path'] !== 'string' || (op['op'] !== 'add' && op['op'] !== 'replace')) return;
  const { path, value } = op;
  if (path === REFS) addList(ids, value);
  else if (path.startsWith(`${REFS}/`) && typeof value === 'string') ids.add(value);
  else if (path === '') addRefs(ids, value);
}

function addRefs(ids: Set<string>, object: unknown): void {
  if (isObject(object)) addList(ids, object['object_marking_refs']);
}

function addList(ids: Set<string>, list: unknown): void {
  if (Array.isArray(list)) for (const id of list) if (typeof id === 'string') ids.add(id);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
