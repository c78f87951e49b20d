/**
 * Deterministic STIX 2.1 / OpenCTI event-envelope factories for the stream emulator.
 *
 * Everything here is a pure function of (seed, event index, publish history, event time):
 * the same sequence of publish() calls produces the same objects (only timestamps, which
 * come from the event id, differ between runs). Envelopes follow
 * /work/shared/reference/opencti-live-stream.md §3.5 (key order included) and are
 * serialised exactly once with JSON.stringify.
 */
import { createHash } from 'node:crypto';

export const OCTI_EXT = 'extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba';
export const EMULATOR_USER_ID = '88ec0c6a-13ce-5e39-b486-354fe4a7084f';
export const EMULATOR_GROUP_ID = '5ab4e2ac-1cc8-4ad4-9ad5-6b6fd6a2e7d1';

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export type EnvelopeType = 'create' | 'update' | 'delete' | 'merge';

/** STIX types the factory can generate as main objects. */
export type EntityKind =
  | 'malware'
  | 'indicator'
  | 'report'
  | 'relationship'
  | 'identity'
  | 'vulnerability'
  | 'attack-pattern'
  | 'intrusion-set';

export const ENTITY_KINDS: readonly EntityKind[] = [
  'malware',
  'indicator',
  'report',
  'relationship',
  'identity',
  'vulnerability',
  'attack-pattern',
  'intrusion-set',
];

const OCTI_TYPE: Record<EntityKind, string> = {
  malware: 'Malware',
  indicator: 'Indicator',
  report: 'Report',
  relationship: 'uses',
  identity: 'Organization',
  vulnerability: 'Vulnerability',
  'attack-pattern': 'Attack-Pattern',
  'intrusion-set': 'Intrusion-Set',
};

// ---------------------------------------------------------------------------------------------
// Deterministic primitives
// ---------------------------------------------------------------------------------------------

/** A UUID (version 4 or 5 layout) derived from a hash of the parts: deterministic. */
export function deterministicUuid(version: 4 | 5, ...parts: Array<string | number>): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  const variant = ((parseInt(h.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${version}${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** mulberry32 PRNG: returns floats in [0, 1). */
export function createRng(...seedParts: Array<string | number>): () => number {
  let a = createHash('sha256').update(seedParts.join('\u0000')).digest().readUInt32LE(0);
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rng: () => number, items: readonly T[]): T {
  const item = items[Math.floor(rng() * items.length)];
  if (item === undefined) throw new Error('pick() on an empty list');
  return item;
}

const iso = (ms: number): string => new Date(ms).toISOString();

// ---------------------------------------------------------------------------------------------
// Text pools (non-ASCII, escapes, U+2028 …) so byte-for-byte forwarding is really exercised
// ---------------------------------------------------------------------------------------------

// Mostly Latin-1 (V8 then stores payloads as one-byte strings: half the memory for 100k events);
// about one event in five gets a non-Latin-1 name or description.
const LATIN1_NAMES: readonly string[] = [
  'Paradise Ransomware',
  'Emotet',
  'QakBot',
  'Cobalt Strike',
  'BlackCat',
  'APT "Quoted" \\ Backslash',
  'Caf\u00e9 Botnet',
];

const UNICODE_NAMES: readonly string[] = [
  'Zaporizhzhia — Кибератака 攻撃 🛡',
  'Ночной Волк',
  'ドラゴン・ローダー',
  'Ñandú Stealer ☕',
  'Lazarus 라자루스',
  'Operation Ελλάδα',
  'حملة الصقر',
];

const LATIN1_DESCRIPTIONS: readonly string[] = [
  'Description',
  'Dropped to C:\\Windows\\Temp\\svc.exe via "invoice.pdf.lnk" <script>alert(1)</script> & co',
  'Multi-line\nanalyst note\twith tabs',
  'Plain ASCII description of a well known threat.',
];

const UNICODE_DESCRIPTIONS: readonly string[] = [
  'Observed targeting «energy» operators — Кибератака на инфраструктуру; 攻撃キャンペーン 🛡',
  'Campaign against Zaporizhzhia — Кибератака 攻撃 🛡 (see report)',
];

const pickName = (rng: () => number, unicode: boolean): string => pick(rng, unicode && rng() < 0.7 ? UNICODE_NAMES : LATIN1_NAMES);
const pickDescription = (rng: () => number, unicode: boolean): string => {
  if (!unicode) return pick(rng, LATIN1_DESCRIPTIONS);
  // Half of the "unicode" objects carry raw U+2028/U+2029 (JSON.stringify leaves them unescaped).
  return rng() < 0.5 ? pick(rng, UNICODE_DESCRIPTIONS) : pick(rng, LATIN1_DESCRIPTIONS) + LINE_SEPARATOR_SNIPPET;
};
/** One event in five gets non-Latin-1 text (Cyrillic, CJK, emoji, U+2028 …). */
const UNICODE_SHARE = 0.2;

const LATIN1_LABELS: readonly string[] = ['ransomware', 'apt', 'crimeware', 'phishing', 'c2', 'énergie'];
const UNICODE_LABELS: readonly string[] = ['финансы', '金融'];
const pickLabel = (rng: () => number, unicode: boolean): string => pick(rng, unicode && rng() < 0.5 ? UNICODE_LABELS : LATIN1_LABELS);

const LINE_SEPARATOR_SNIPPET = ' line\u2028separator and paragraph\u2029separator';
const FILLER_SOURCE =
  'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. ';

function filler(len: number): string {
  if (len <= 0) return '';
  const reps = Math.ceil(len / FILLER_SOURCE.length);
  return FILLER_SOURCE.repeat(reps).slice(0, len);
}

function fillerRefs(seed: string, index: number, count: number): string[] {
  const refs: string[] = [];
  for (let i = 0; i < count; i += 1) {
    refs.push(`indicator--${deterministicUuid(5, seed, 'report-ref', index, i)}`);
  }
  return refs;
}

// ---------------------------------------------------------------------------------------------
// JSON helpers
// ---------------------------------------------------------------------------------------------

function isContainer(v: JsonValue | undefined): v is JsonObject | JsonValue[] {
  return typeof v === 'object' && v !== null;
}

function asObject(v: JsonValue | undefined, what: string): JsonObject {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what} is not a JSON object`);
  return v;
}

function clone<T extends JsonValue>(v: T): T {
  return structuredClone(v);
}

function ext(obj: JsonObject): JsonObject {
  return asObject(asObject(obj['extensions'], 'extensions')[OCTI_EXT], 'OpenCTI extension');
}

function keysOf(v: JsonObject | JsonValue[]): string[] {
  return Array.isArray(v) ? v.map((_, i) => String(i)) : Object.keys(v);
}

function getKey(v: JsonObject | JsonValue[], key: string): JsonValue | undefined {
  return Array.isArray(v) ? v[Number(key)] : v[key];
}

function hasKey(v: JsonObject | JsonValue[], key: string): boolean {
  return Array.isArray(v) ? Number(key) < v.length : Object.prototype.hasOwnProperty.call(v, key);
}

function escapePathComponent(key: string): string {
  return key.indexOf('/') === -1 && key.indexOf('~') === -1 ? key : key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * RFC 6902 patch from `a` to `b`, same algorithm and operation order as fast-json-patch
 * `compare()` (the function the OpenCTI server uses for context.patch / reverse_patch).
 */
export function jsonPatchCompare(a: JsonObject, b: JsonObject): JsonObject[] {
  const patches: JsonObject[] = [];
  const generate = (mirror: JsonObject | JsonValue[], obj: JsonObject | JsonValue[], path: string): void => {
    if (mirror === obj) return;
    const newKeys = keysOf(obj);
    const oldKeys = keysOf(mirror);
    let deleted = false;
    for (let t = oldKeys.length - 1; t >= 0; t -= 1) {
      const key = oldKeys[t] as string;
      const oldVal = getKey(mirror, key);
      const keyPath = `${path}/${escapePathComponent(key)}`;
      if (hasKey(obj, key)) {
        const newVal = getKey(obj, key);
        if (isContainer(oldVal) && isContainer(newVal) && Array.isArray(oldVal) === Array.isArray(newVal)) {
          generate(oldVal, newVal, keyPath);
        } else if (oldVal !== newVal && newVal !== undefined) {
          patches.push({ op: 'replace', path: keyPath, value: clone(newVal) });
        }
      } else if (Array.isArray(mirror) === Array.isArray(obj)) {
        patches.push({ op: 'remove', path: keyPath });
        deleted = true;
      } else {
        patches.push({ op: 'replace', path, value: clone(obj) });
      }
    }
    if (!deleted && newKeys.length === oldKeys.length) return;
    for (const key of newKeys) {
      const newVal = getKey(obj, key);
      if (!hasKey(mirror, key) && newVal !== undefined) {
        patches.push({ op: 'add', path: `${path}/${escapePathComponent(key)}`, value: clone(newVal) });
      }
    }
  };
  generate(a, b, '');
  return patches;
}

// ---------------------------------------------------------------------------------------------
// Dependencies (referenced objects: marking definitions, organizations)
// ---------------------------------------------------------------------------------------------

export type DependencyKind = 'marking-definition' | 'identity';

export interface DependencyObject {
  readonly stixId: string;
  readonly kind: DependencyKind;
  /** Exact envelope text {data,message,origin:{referer:"init-dependencies"},version:"4"}. */
  readonly envelope: string;
}

/**
 * `key` identifies the object (same key → same STIX id and bytes); `label` is its human name
 * ("tlp-green" → "TLP:GREEN").
 */
function buildDependency(seed: string, key: string, kind: DependencyKind, label: string): DependencyObject {
  const rng = createRng(seed, 'dependency', key);
  const createdMs = Date.UTC(2023, 0, 1) + Math.floor(rng() * 365 * 86_400_000);
  const created = iso(createdMs);
  const internalId = deterministicUuid(4, seed, 'dependency-internal', key);
  let data: JsonObject;
  let message: string;
  if (kind === 'marking-definition') {
    const stixId = `marking-definition--${deterministicUuid(5, seed, 'marking', key)}`;
    const tlpMatch = /^tlp[-:_ ]?(.+)$/i.exec(label);
    const tlp = tlpMatch?.[1]?.toLowerCase() ?? pick(rng, ['clear', 'green', 'amber', 'amber+strict', 'red'] as const);
    const name = tlpMatch !== null ? `TLP:${tlp.toUpperCase()}` : `PAP:${tlp.toUpperCase()} ${rng() < 0.2 ? '— статус ' : '- status '}${label}`;
    data = {
      id: stixId,
      spec_version: '2.1',
      type: 'marking-definition',
      extensions: {
        [OCTI_EXT]: {
          extension_type: 'property-extension',
          id: internalId,
          type: 'Marking-Definition',
          created_at: created,
          updated_at: created,
          is_inferred: false,
          creator_ids: [EMULATOR_USER_ID],
        },
      },
      created,
      modified: created,
      definition_type: tlpMatch !== null ? 'TLP' : 'PAP',
      definition: { tlp },
      name,
      x_opencti_order: Math.floor(rng() * 4),
      x_opencti_color: '#2e7d32',
    };
    message = `creates a Marking-Definition \`${name}\``;
  } else {
    const stixId = `identity--${deterministicUuid(5, seed, 'identity', key)}`;
    const name = `${rng() < 0.2 ? pick(rng, ['株式会社サイバー', 'ЦЕРТ-UA', 'Ministère de l’Énergie']) : pick(rng, ['ACME Corp', 'Filigran', 'Ministère de l\'Énergie'])} ${label}`;
    data = {
      id: stixId,
      spec_version: '2.1',
      type: 'identity',
      extensions: {
        [OCTI_EXT]: {
          extension_type: 'property-extension',
          id: internalId,
          type: 'Organization',
          created_at: created,
          updated_at: created,
          is_inferred: false,
          creator_ids: [EMULATOR_USER_ID],
        },
      },
      created,
      modified: created,
      revoked: false,
      confidence: 100,
      lang: 'en',
      name,
      identity_class: 'organization',
      x_opencti_organization_type: 'vendor',
    };
    message = `creates a Organization \`${name}\``;
  }
  const envelope = JSON.stringify({
    data,
    message,
    origin: { referer: 'init-dependencies' },
    version: '4',
  });
  return { stixId: String(data['id']), kind, envelope };
}

// ---------------------------------------------------------------------------------------------
// Main objects
// ---------------------------------------------------------------------------------------------

interface EntityBuildInput {
  readonly seed: string;
  readonly index: number;
  readonly kind: EntityKind;
  readonly stixId: string;
  readonly internalId: string;
  readonly createdAtMs: number;
  readonly updatedAtMs: number;
  readonly inferred: boolean;
  readonly fillerUnits: number;
  readonly markingRefs: readonly string[];
  readonly createdByRef: string | undefined;
}

function buildEntity(input: EntityBuildInput): JsonObject {
  const { seed, index, kind, stixId, internalId } = input;
  const rng = createRng(seed, 'entity-body', index);
  const createdAt = iso(input.createdAtMs);
  const updatedAt = iso(input.updatedAtMs);
  const stixCreated = iso(Date.UTC(2019, 0, 1) + Math.floor(rng() * 5 * 365 * 86_400_000));
  const unicode = rng() < UNICODE_SHARE;
  const name = `${pickName(rng, unicode)} #${index}`;
  const description = pickDescription(rng, unicode);
  const labels = rng() < 0.5 ? [pickLabel(rng, unicode)] : [];
  const confidence = 10 * (1 + Math.floor(rng() * 9));
  const extension: JsonObject = {
    extension_type: 'property-extension',
    id: internalId,
    type: OCTI_TYPE[kind],
    created_at: createdAt,
    updated_at: updatedAt,
    is_inferred: input.inferred,
    creator_ids: [EMULATOR_USER_ID],
  };
  const obj: JsonObject = {
    id: stixId,
    spec_version: '2.1',
    type: kind,
    extensions: { [OCTI_EXT]: extension },
    created: stixCreated,
    modified: updatedAt,
    revoked: false,
    confidence,
    lang: 'en',
    labels,
  };
  if (input.markingRefs.length > 0) obj['object_marking_refs'] = [...input.markingRefs];
  if (input.createdByRef !== undefined) obj['created_by_ref'] = input.createdByRef;
  let units = input.fillerUnits;
  switch (kind) {
    case 'relationship': {
      const sourceRef = `malware--${deterministicUuid(5, seed, 'rel-source', index)}`;
      const targetRef = `attack-pattern--${deterministicUuid(5, seed, 'rel-target', index)}`;
      const sourceName = `${pickName(rng, unicode)} source`;
      const targetName = unicode ? pick(rng, ['Исполнение команд', 'コマンド実行']) : pick(rng, ['Phishing', 'Spearphishing Attachment']);
      Object.assign(extension, {
        source_value: sourceName,
        source_ref: deterministicUuid(4, seed, 'rel-source-internal', index),
        source_type: 'Malware',
        target_value: targetName,
        target_ref: deterministicUuid(4, seed, 'rel-target-internal', index),
        target_type: 'Attack-Pattern',
      });
      Object.assign(obj, {
        relationship_type: 'uses',
        description: description + filler(units),
        source_ref: sourceRef,
        target_ref: targetRef,
        start_time: stixCreated,
        stop_time: '5138-11-16T09:46:40.000Z',
      });
      break;
    }
    case 'indicator': {
      const octet = 1 + (Math.abs(index) % 254);
      const pattern =
        unicode && rng() < 0.5
          ? `[domain-name:value = 'пример-${index}.испытание']`
          : `[ipv4-addr:value = '203.0.113.${octet}']`;
      Object.assign(obj, {
        name: pattern.includes('domain') ? `пример-${index}.испытание` : `203.0.113.${octet}`,
        description: description + filler(units),
        pattern,
        pattern_type: 'stix',
        valid_from: stixCreated,
        valid_until: '2035-01-01T00:00:00.000Z',
        x_opencti_score: 50 + Math.floor(rng() * 50),
        x_opencti_detection: false,
        x_opencti_main_observable_type: pattern.includes('domain') ? 'Domain-Name' : 'IPv4-Addr',
      });
      break;
    }
    case 'report': {
      // Large reports grow through object_refs (≈50 bytes each), the remainder through the description.
      const refCount = 3 + Math.floor(units / 50);
      units %= 50;
      Object.assign(obj, {
        name,
        description: description + filler(units),
        report_types: ['threat-report'],
        published: stixCreated,
        object_refs: fillerRefs(seed, index, refCount),
      });
      break;
    }
    case 'identity':
      Object.assign(obj, {
        name,
        description: description + filler(units),
        identity_class: 'organization',
        x_opencti_organization_type: 'other',
      });
      break;
    case 'vulnerability':
      Object.assign(obj, {
        name: `CVE-2024-${String(10000 + Math.abs(index)).padStart(5, '0')}`,
        description: description + filler(units),
        x_opencti_cvss_base_score: Math.round(rng() * 100) / 10,
        x_opencti_cvss_base_severity: 'HIGH',
      });
      break;
    case 'attack-pattern':
      Object.assign(obj, {
        name,
        description: description + filler(units),
        x_mitre_id: `T${1000 + (Math.abs(index) % 600)}`,
        kill_chain_phases: [{ kill_chain_name: 'mitre-attack', phase_name: 'execution' }],
      });
      break;
    case 'intrusion-set':
      Object.assign(obj, {
        name,
        description: description + filler(units),
        aliases: [`${name} alias`],
        first_seen: stixCreated,
        last_seen: updatedAt,
      });
      break;
    case 'malware':
      Object.assign(obj, {
        name,
        description: description + filler(units),
        is_family: rng() < 0.5,
        malware_types: ['ransomware'],
      });
      break;
  }
  return obj;
}

function displayName(obj: JsonObject): string {
  const name = obj['name'];
  if (typeof name === 'string') return name;
  return String(obj['id']);
}

function octiType(obj: JsonObject): string {
  return String(ext(obj)['type']);
}

function createMessage(obj: JsonObject): string {
  if (obj['type'] === 'relationship') {
    const e = ext(obj);
    return `creates the relation ${String(obj['relationship_type'])} from \`${String(e['source_value'])}\` (${String(e['source_type'])}) to \`${String(e['target_value'])}\` (${String(e['target_type'])})`;
  }
  return `creates a ${octiType(obj)} \`${displayName(obj)}\``;
}

function truncateForMessage(v: JsonValue | undefined): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v ?? null);
  return s.length > 60 ? `${s.slice(0, 60)}...` : s;
}

// ---------------------------------------------------------------------------------------------
// Size fitting
// ---------------------------------------------------------------------------------------------

/** Calls build(units) until the byte length is close to target (secant iterations). */
function fitToSize<T extends { text: string }>(target: number | undefined, build: (units: number) => T): T {
  let result = build(0);
  if (target === undefined) return result;
  const base = Buffer.byteLength(result.text);
  if (base >= target) return result;
  let units = target - base;
  let prevUnits = 0;
  let prevLen = base;
  for (let i = 0; i < 5; i += 1) {
    result = build(units);
    const len = Buffer.byteLength(result.text);
    const diff = target - len;
    if (Math.abs(diff) <= 4) break;
    const slope = units !== prevUnits ? Math.max(0.05, (len - prevLen) / (units - prevUnits)) : 1;
    prevUnits = units;
    prevLen = len;
    units = Math.max(0, Math.round(units + diff / slope));
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Event factory (object store + envelope builders)
// ---------------------------------------------------------------------------------------------

/** Current state of an object in the emulated "database" (used by update/delete/merge and recovery). */
export interface ObjectState {
  readonly stixId: string;
  readonly internalId: string;
  readonly kind: EntityKind;
  readonly updatedMs: number;
  readonly inferred: boolean;
  /** The envelope that carried the latest version; its `data` is the current object. */
  readonly envelope: string;
  readonly dependencies: readonly DependencyObject[];
}

export interface BuildSpec {
  readonly envelopeType: EnvelopeType;
  readonly freshDependencies: number;
  readonly sharedDependencyKeys: readonly string[];
  /** Target byte size of the envelope; undefined → no padding. */
  readonly size: number | undefined;
  /** Whether `size` was given explicitly (updates then rewrite the description to honour it). */
  readonly explicitSize: boolean;
  readonly inferred: boolean;
  readonly entityType: EntityKind | undefined;
}

export interface BuiltEvent {
  /** Exact envelope JSON (what follows "data: "). */
  readonly envelope: string;
  readonly stixId: string;
  readonly dependencies: readonly DependencyObject[];
}

const DEFAULT_ORIGIN: JsonObject = {
  socket: 'query',
  ip: '::ffff:172.18.0.9',
  user_id: EMULATOR_USER_ID,
  group_ids: [EMULATOR_GROUP_ID],
  organization_ids: [],
  user_metadata: {},
};

export class EventFactory {
  private readonly states = new Map<string, ObjectState>();
  /** Alive (not deleted / merged) object ids, for deterministic picking. */
  private readonly alive: string[] = [];
  private readonly alivePos = new Map<string, number>();
  private readonly sharedDeps = new Map<string, DependencyObject>();

  constructor(private readonly seed: string) {}

  get objectCount(): number {
    return this.states.size;
  }

  /** Snapshot of the current objects (the emulated database), for recovery. */
  objects(): ObjectState[] {
    return [...this.states.values()];
  }

  build(index: number, eventMs: number, spec: BuildSpec): BuiltEvent {
    const deps = this.dependenciesFor(index, spec);
    switch (spec.envelopeType) {
      case 'create':
        return this.buildCreate(index, eventMs, spec, deps);
      case 'update':
        return this.buildUpdate(index, eventMs, spec, deps);
      case 'delete':
        return this.buildDelete(index, eventMs, spec);
      case 'merge':
        return this.buildMerge(index, eventMs, spec, deps);
    }
  }

  /** Envelope of a recovery ("init-create") frame for an object (§3.5b). */
  recoveryEnvelope(state: ObjectState): string {
    const data = asObject(asObject(JSON.parse(state.envelope) as JsonValue, 'envelope')['data'], 'data');
    return JSON.stringify({ data, message: createMessage(data), origin: { referer: 'init-create' }, version: '4' });
  }

  // --- internals ---------------------------------------------------------------------------

  private dependenciesFor(index: number, spec: BuildSpec): DependencyObject[] {
    const deps: DependencyObject[] = [];
    for (const key of spec.sharedDependencyKeys) {
      let dep = this.sharedDeps.get(key);
      if (dep === undefined) {
        const kind: DependencyKind = /^(tlp|pap|marking)/i.test(key) ? 'marking-definition' : 'identity';
        dep = buildDependency(this.seed, `shared:${key}`, kind, key);
        this.sharedDeps.set(key, dep);
      }
      deps.push(dep);
    }
    for (let d = 0; d < spec.freshDependencies; d += 1) {
      const kind: DependencyKind = d % 2 === 0 ? 'marking-definition' : 'identity';
      deps.push(buildDependency(this.seed, `event:${index}:${d}`, kind, `${index}.${d}`));
    }
    return deps;
  }

  private refsFrom(deps: readonly DependencyObject[]): { markings: string[]; createdBy: string | undefined } {
    const markings = deps.filter((d) => d.kind === 'marking-definition').map((d) => d.stixId);
    const createdBy = deps.find((d) => d.kind === 'identity')?.stixId;
    return { markings, createdBy };
  }

  private chooseKind(index: number, spec: BuildSpec): EntityKind {
    if (spec.entityType !== undefined) return spec.entityType;
    if (spec.inferred) return 'relationship';
    return pick(createRng(this.seed, 'kind', index), ENTITY_KINDS);
  }

  private freshObject(index: number, kind: EntityKind, createdAtMs: number, updatedAtMs: number, inferred: boolean, units: number, deps: readonly DependencyObject[]): JsonObject {
    const refs = this.refsFrom(deps);
    return buildEntity({
      seed: this.seed,
      index,
      kind,
      stixId: `${kind}--${deterministicUuid(5, this.seed, 'stix', index, kind)}`,
      internalId: deterministicUuid(4, this.seed, 'internal', index, kind),
      createdAtMs,
      updatedAtMs,
      inferred,
      fillerUnits: units,
      markingRefs: refs.markings,
      createdByRef: refs.createdBy,
    });
  }

  private envelope(type: EnvelopeType, message: string, data: JsonObject, context: JsonObject | undefined, eventId: string): string {
    const env: JsonObject = { version: '4', type, scope: 'external', message, origin: DEFAULT_ORIGIN, data };
    if (context !== undefined) env['context'] = context;
    env['event_id'] = eventId;
    return JSON.stringify(env);
  }

  private buildCreate(index: number, ms: number, spec: BuildSpec, deps: DependencyObject[]): BuiltEvent {
    const kind = this.chooseKind(index, spec);
    const built = fitToSize(spec.size, (units) => {
      const data = this.freshObject(index, kind, ms, ms, spec.inferred, units, deps);
      return { data, text: this.envelope('create', createMessage(data), data, undefined, `${ms}-0`) };
    });
    this.store(built.data, kind, ms, spec.inferred, built.text, deps);
    return { envelope: built.text, stixId: String(built.data['id']), dependencies: deps };
  }

  /** Picks an alive object (deterministically), or synthesises a pre-existing one. */
  private target(index: number, ms: number, spec: BuildSpec, purpose: string): { prev: JsonObject; kind: EntityKind; updatedMs: number; deps: readonly DependencyObject[] } {
    const rng = createRng(this.seed, 'pick', purpose, index);
    if (this.alive.length > 0 && spec.entityType === undefined) {
      const id = this.alive[Math.floor(rng() * this.alive.length)] as string;
      const state = this.states.get(id);
      if (state !== undefined) {
        const prev = asObject(asObject(JSON.parse(state.envelope) as JsonValue, 'envelope')['data'], 'data');
        return { prev, kind: state.kind, updatedMs: state.updatedMs, deps: state.dependencies };
      }
    }
    // Nothing to act on: the object existed before the emulated log started.
    const kind = this.chooseKind(index, spec);
    const createdMs = ms - 86_400_000;
    const prev = fitToSize(spec.size ?? 1500, (units) => {
      const data = this.freshObject(index, kind, createdMs, createdMs, spec.inferred, units, []);
      return { data, text: JSON.stringify(data) };
    }).data;
    return { prev, kind, updatedMs: createdMs, deps: [] };
  }

  private touch(next: JsonObject, ms: number, deps: readonly DependencyObject[]): void {
    next['modified'] = iso(ms);
    ext(next)['updated_at'] = iso(ms);
    if (deps.length === 0) return;
    const refs = this.refsFrom(deps);
    if (refs.markings.length > 0) {
      const existing = Array.isArray(next['object_marking_refs']) ? (next['object_marking_refs']) : [];
      const merged = [...existing];
      for (const m of refs.markings) if (!merged.includes(m)) merged.push(m);
      next['object_marking_refs'] = merged;
    }
    if (refs.createdBy !== undefined && next['created_by_ref'] === undefined) next['created_by_ref'] = refs.createdBy;
  }

  private buildUpdate(index: number, ms: number, spec: BuildSpec, deps: DependencyObject[]): BuiltEvent {
    const { prev, kind } = this.target(index, ms, spec, 'update');
    const prevConfidence = typeof prev['confidence'] === 'number' ? prev['confidence'] : 50;
    const rng = createRng(this.seed, 'update', index);
    const newConfidence = ((prevConfidence + 10 + Math.floor(rng() * 8) * 10) % 100) || 5;
    const unicode = rng() < UNICODE_SHARE;
    const addLabel = rng() < 0.35 ? pickLabel(rng, unicode) : undefined;
    const baseDescription = pickDescription(rng, unicode);
    const built = fitToSize(spec.explicitSize ? spec.size : undefined, (units) => {
      const next = clone(prev);
      this.touch(next, ms, deps);
      const changes: JsonObject[] = [];
      const messages: string[] = [];
      next['confidence'] = newConfidence;
      changes.push({ field: 'Confidence', previous: [prevConfidence], new: [newConfidence] });
      messages.push(`replaces \`${newConfidence}\` in \`Confidence\``);
      const prevLabels = Array.isArray(prev['labels']) ? (prev['labels']) : [];
      if (addLabel !== undefined && !prevLabels.includes(addLabel)) {
        next['labels'] = [...prevLabels, addLabel];
        changes.push({ field: 'Label', previous: [...prevLabels], new: [...prevLabels, addLabel], added: [addLabel], removed: [] });
        messages.push(`adds \`${addLabel}\` in \`Label\``);
      }
      if (spec.explicitSize) {
        next['description'] = baseDescription + filler(units);
        changes.push({ field: 'Description', previous: [prev['description'] ?? null], new: [next['description']] });
        messages.push(`replaces \`${truncateForMessage(next['description'])}\` in \`Description\``);
      }
      const context: JsonObject = {
        patch: jsonPatchCompare(prev, next),
        reverse_patch: jsonPatchCompare(next, prev),
        changes,
      };
      return { data: next, text: this.envelope('update', messages.join(' | '), next, context, `${ms}-0`) };
    });
    this.store(built.data, kind, ms, spec.inferred || ext(built.data)['is_inferred'] === true, built.text, deps.length > 0 ? deps : this.states.get(String(built.data['id']))?.dependencies ?? []);
    return { envelope: built.text, stixId: String(built.data['id']), dependencies: deps };
  }

  private buildDelete(index: number, ms: number, spec: BuildSpec): BuiltEvent {
    const { prev, updatedMs } = this.target(index, ms, spec, 'delete');
    const stixId = String(prev['id']);
    this.remove(stixId);
    const message = prev['type'] === 'relationship'
      ? createMessage(prev).replace(/^creates/, 'deletes')
      : `deletes a ${octiType(prev)} \`${displayName(prev)}\``;
    const text = this.envelope('delete', message, prev, undefined, `${updatedMs}-0`);
    return { envelope: text, stixId, dependencies: [] };
  }

  private buildMerge(index: number, ms: number, spec: BuildSpec, deps: DependencyObject[]): BuiltEvent {
    const { prev, kind } = this.target(index, ms, spec, 'merge');
    const targetId = String(prev['id']);
    // Sources: up to two other alive objects of the same kind, else synthetic ones.
    const sources: JsonObject[] = [];
    const rng = createRng(this.seed, 'merge', index);
    const start = Math.floor(rng() * Math.max(1, this.alive.length));
    for (let i = 0; i < Math.min(this.alive.length, 256) && sources.length < 2; i += 1) {
      const id = this.alive[(start + i) % this.alive.length] as string;
      const st = this.states.get(id);
      if (id === targetId || st === undefined || st.kind !== kind) continue;
      sources.push(asObject(asObject(JSON.parse(st.envelope) as JsonValue, 'envelope')['data'], 'data'));
    }
    if (sources.length === 0) {
      const createdMs = ms - 3_600_000;
      // Synthetic source: an object that existed before the emulated log started.
      sources.push(this.freshObject(-1 - index, kind, createdMs, createdMs, false, 0, []));
    }
    for (const s of sources) this.remove(String(s['id']));
    const next = clone(prev);
    this.touch(next, ms, deps);
    const nextExt = ext(next);
    const stixIds = Array.isArray(nextExt['stix_ids']) ? [...(nextExt['stix_ids'])] : [];
    for (const s of sources) stixIds.push(String(s['id']));
    nextExt['stix_ids'] = stixIds;
    const context: JsonObject = {
      patch: jsonPatchCompare(prev, next),
      reverse_patch: jsonPatchCompare(next, prev),
      sources,
    };
    const message = `merges ${octiType(next)} \`${sources.map(displayName).join(', ')}\` in \`${displayName(next)}\``;
    const text = this.envelope('merge', message, next, context, `${ms}-0`);
    this.store(next, kind, ms, ext(next)['is_inferred'] === true, text, deps.length > 0 ? deps : this.states.get(targetId)?.dependencies ?? []);
    return { envelope: text, stixId: targetId, dependencies: deps };
  }

  private store(data: JsonObject, kind: EntityKind, ms: number, inferred: boolean, envelope: string, deps: readonly DependencyObject[]): void {
    const stixId = String(data['id']);
    this.states.set(stixId, {
      stixId,
      internalId: String(ext(data)['id']),
      kind,
      updatedMs: ms,
      inferred,
      envelope,
      dependencies: deps,
    });
    if (!this.alivePos.has(stixId)) {
      this.alivePos.set(stixId, this.alive.length);
      this.alive.push(stixId);
    }
  }

  private remove(stixId: string): void {
    this.states.delete(stixId);
    const pos = this.alivePos.get(stixId);
    if (pos === undefined) return;
    const last = this.alive.pop() as string;
    this.alivePos.delete(stixId);
    if (last !== stixId) {
      this.alive[pos] = last;
      this.alivePos.set(last, pos);
    }
  }
}
