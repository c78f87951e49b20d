import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/**
 * Builders for configuration leaves. Every leaf carries, as zod metadata, the
 * text used in error messages ("accepted") and in the docs, so a bad value is
 * reported together with what would have been accepted.
 *
 * Values arrive as strings from the environment or as YAML scalars (string,
 * number, boolean) from config.yml; each builder normalises both.
 */
export interface FieldMeta {
  description: string;
  accepted: string;
  /** Secret values are never echoed in error messages or logs. */
  secret?: boolean;
  /** JSON Schema `format` of the value, for the generated connector config schema. */
  format?: 'uri';
}

const BOOLEAN_WORDS: Record<string, boolean> = { true: true, yes: true, '1': true, false: false, no: false, '0': false };

function toBoolean(value: unknown): unknown {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number' || typeof value === 'string') {
    const word = BOOLEAN_WORDS[String(value).trim().toLowerCase()];
    if (word !== undefined) return word;
  }
  return value;
}

function toInteger(value: unknown): unknown {
  return typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
}

export function toText(value: unknown): unknown {
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value === 'string' ? value.trim() : value;
}

export function withMeta<T extends z.ZodType>(schema: T, meta: FieldMeta): T {
  return schema.meta(meta as unknown as Record<string, unknown>);
}

export function booleanField(defaultValue: boolean, description: string) {
  return withMeta(z.preprocess(toBoolean, z.boolean()).default(defaultValue), {
    description,
    accepted: 'true/false, yes/no or 1/0, in any case',
  });
}

export function integerField(range: { min: number; max: number }, defaultValue: number, description: string) {
  return withMeta(z.preprocess(toInteger, z.number().int().min(range.min).max(range.max)).default(defaultValue), {
    description,
    accepted: `an integer from ${range.min} to ${range.max}`,
  });
}

export function optionalIntegerField(range: { min: number; max: number }, description: string) {
  return withMeta(z.preprocess(toInteger, z.number().int().min(range.min).max(range.max)).optional(), {
    description,
    accepted: `an integer from ${range.min} to ${range.max}, or unset`,
  });
}

export interface TextOptions {
  accepted?: string;
  pattern?: RegExp;
  /** Reject the `ChangeMe` placeholder of the original connector's examples. */
  rejectPlaceholder?: boolean;
  secret?: boolean;
}

/**
 * The params of a check that words no problem of its own: the loader then
 * says what the field accepts instead of zod's "Invalid input" (see
 * describeIssues in load.ts).
 */
const BARE_CHECK = { params: { bareCheck: true } };

function textSchema(options: TextOptions) {
  return z.preprocess(
    toText,
    z
      .string()
      .min(1)
      .refine((text) => !options.pattern || options.pattern.test(text), BARE_CHECK)
      .refine((text) => !options.rejectPlaceholder || text.toLowerCase() !== 'changeme', BARE_CHECK),
  );
}

function textMeta(description: string, options: TextOptions): FieldMeta {
  const accepted = (options.accepted ?? 'a non-empty string') + (options.rejectPlaceholder ? ' other than ChangeMe' : '');
  return { description, accepted, ...(options.secret ? { secret: true } : {}) };
}

export function textField(description: string, options: TextOptions = {}) {
  return withMeta(textSchema(options), textMeta(description, options));
}

export function optionalTextField(description: string, options: TextOptions = {}) {
  return withMeta(textSchema(options).optional(), textMeta(description, options));
}

export function defaultedTextField(defaultValue: string, description: string, options: TextOptions = {}) {
  return withMeta(textSchema(options).default(defaultValue), textMeta(description, options));
}

/** A case-insensitive choice, normalised to the spelling given in `choices`. */
export function choiceField<const T extends readonly [string, ...string[]]>(
  choices: T,
  defaultValue: T[number],
  description: string,
) {
  const normalise = (value: unknown): unknown => {
    const text = toText(value);
    if (typeof text !== 'string') return text;
    return choices.find((choice) => choice.toLowerCase() === text.toLowerCase()) ?? text;
  };
  return withMeta(z.preprocess(normalise, z.enum(choices)).default(defaultValue as never), {
    description,
    accepted: `${choices.join(', ')} (any case)`,
  });
}

export function urlField(protocols: readonly string[], description: string, defaultValue?: string) {
  const schema = z.preprocess(toText, z.string().refine((text) => hasProtocol(text, protocols), BARE_CHECK));
  const accepted = `an absolute URL with scheme ${protocols.map((p) => p.replace(/:$/, '')).join(' or ')}`;
  return withMeta(defaultValue === undefined ? schema : schema.default(defaultValue), { description, accepted, format: 'uri' });
}

function hasProtocol(text: string, protocols: readonly string[]): boolean {
  try {
    return protocols.includes(new URL(text).protocol);
  } catch {
    return false;
  }
}

/**
 * pycti's OPENCTI_SSL_VERIFY: a boolean word, or else the path of a PEM CA
 * bundle (which also means "verify", with that bundle).
 */
export function booleanOrPathField(defaultValue: boolean, description: string) {
  const normalise = (value: unknown): unknown => {
    const word = toBoolean(value);
    return typeof word === 'boolean' ? word : toText(word);
  };
  return withMeta(z.preprocess(normalise, z.union([z.boolean(), z.string().min(1)])).default(defaultValue), {
    description,
    accepted: 'true/false, yes/no or 1/0 in any case, or the path of a PEM CA bundle',
  });
}

const OFF_WORDS = new Set(['false', 'no', 'none', '0']);
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/** An ISO 8601 date, normalised to UTC with a `Z` (whole seconds when it has no milliseconds). */
export function isoUtc(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

/**
 * An ISO 8601 date normalised to UTC (`2025-02-12T11:55:10Z`), `false` when
 * turned off with false/no/none/0 (any case), or unset.
 */
export function optionalDateOrOffField(description: string) {
  const normalise = (value: unknown): unknown => {
    if (value === false) return false;
    if (value instanceof Date) return isoUtc(value.getTime());
    const text = toText(value);
    if (typeof text !== 'string') return text;
    if (OFF_WORDS.has(text.toLowerCase())) return false;
    const ms = ISO_DATE.test(text) ? Date.parse(text) : Number.NaN;
    return Number.isFinite(ms) ? isoUtc(ms) : text;
  };
  return withMeta(z.preprocess(normalise, z.union([z.literal(false), z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3})?Z$/)])).optional(), {
    description,
    accepted: 'an ISO 8601 date such as 2025-02-12T11:55:10Z, or false/no/none to turn it off, or unset',
  });
}

function toNumber(value: unknown): unknown {
  return typeof value === 'string' && /^\s*-?(?:\d+\.?\d*|\.\d+)\s*$/.test(value) ? Number(value) : value;
}

export function optionalNumberField(range: { min: number; max: number }, description: string) {
  return withMeta(z.preprocess(toNumber, z.number().min(range.min).max(range.max)).optional(), {
    description,
    accepted: `a number from ${range.min} to ${range.max}, or unset`,
  });
}

/** A list given as comma- or space-separated text (environment) or a YAML sequence; items are trimmed, lower-cased and deduplicated. */
function toList(value: unknown): unknown {
  const items = typeof value === 'string' ? value.split(/[\s,]+/) : Array.isArray(value) ? value.map(toText) : undefined;
  if (!items) return value;
  const texts = items.filter((item): item is string => typeof item === 'string' && item !== '').map((item) => item.toLowerCase());
  return texts.length === items.filter((item) => item !== '').length ? [...new Set(texts)] : value;
}

/** An optional allow-list: items from `choices`, or matching `pattern`. */
export function optionalListField(description: string, items: { choices: readonly [string, ...string[]] } | { pattern: RegExp; accepted: string }) {
  const item = 'choices' in items ? z.enum(items.choices) : z.string().regex(items.pattern);
  const accepted = 'choices' in items ? `a comma-separated list of ${items.choices.join(', ')}` : `a comma-separated list of ${items.accepted}`;
  return withMeta(z.preprocess(toList, z.array(item).min(1)).optional(), { description, accepted: `${accepted}, or unset` });
}

/**
 * The path of a PEM file that must be readable and hold a `-----BEGIN <label>`
 * block (CERTIFICATE, or PRIVATE KEY for any key type). Checked when the
 * configuration loads, so a missing file is reported with the other problems.
 * The file's content is never part of a message.
 */
export function optionalPemFileField(description: string, label: 'CERTIFICATE' | 'PRIVATE KEY') {
  const marker = label === 'CERTIFICATE' ? /-----BEGIN CERTIFICATE-----/ : /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;
  const what = label === 'CERTIFICATE' ? 'PEM certificate' : 'PEM private key';
  const schema = z.string().min(1).superRefine((path, context) => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      context.addIssue({ code: 'custom', message: `names a file that cannot be read: ${JSON.stringify(path)} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})` });
      return;
    }
    if (!marker.test(text)) {
      context.addIssue({ code: 'custom', message: `names a file that holds no ${what}: ${JSON.stringify(path)}` });
      return;
    }
    try {
      if (label === 'CERTIFICATE') new X509Certificate(text);
      else createPrivateKey(text);
    } catch {
      const hint = label === 'CERTIFICATE' ? '' : ' (keys with a passphrase are not supported)';
      context.addIssue({ code: 'custom', message: `names a file whose ${what} cannot be parsed${hint}: ${JSON.stringify(path)}` });
    }
  });
  return withMeta(z.preprocess(toText, schema).optional(), { description, accepted: `the path of a readable file holding a ${what}` });
}
