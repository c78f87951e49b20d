import { z } from 'zod';
import type { FieldMeta } from './fields.js';
import { envName } from './load.js';

/**
 * The configuration as a JSON Schema (draft 2020-12) in the form of OpenCTI's
 * connector catalogue (`__metadata__/connector_config_schema.json` of
 * OpenCTI-Platform/connectors, written there by the connectors SDK from
 * pydantic models): one property per environment variable, with its
 * description, type, default and choices. Generated from the zod schema so
 * the two never disagree; `npm run generate:manifest` writes it, a test
 * checks it. docs/opencti-catalogue.md explains the choices below.
 */
type SectionedSchema = z.ZodObject<Record<string, z.ZodObject>>;

const CONFIG_SCHEMA_ID = 'https://www.filigran.io/connectors/opencti-webhook_config.schema.json';

type PropertyType = 'string' | 'integer' | 'number' | 'boolean' | 'array';

export interface CatalogueProperty {
  description: string;
  type: PropertyType;
  const?: unknown;
  default?: unknown;
  enum?: unknown[];
  /** The items of a list: the environment still gives it as comma-separated text. */
  items?: { type: 'string'; enum?: unknown[] };
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  format?: string;
  writeOnly?: boolean;
}

export interface CatalogueSchema {
  $schema: string;
  $id: string;
  type: 'object';
  properties: Record<string, CatalogueProperty>;
  patternProperties: Record<string, { description: string; type: 'string' }>;
  required: string[];
  additionalProperties: boolean;
}

/**
 * OpenCTI's connector manager assigns the connector id itself, and upstream's
 * generator leaves CONNECTOR_ID out of the schema. Run standalone, our
 * processes still require it (it namespaces the Redis keys).
 */
const MANAGER_ASSIGNED = new Set(['CONNECTOR_ID']);

/**
 * Comma-separated lists that stay text at run time (CONNECTOR_SCOPE is sent to
 * OpenCTI as written) but are lists in the catalogue, as upstream types them.
 */
const TEXT_LISTS = new Set(['CONNECTOR_SCOPE']);

/** The length limits of pydantic's HttpUrl, which every URL of upstream's schemas carries. */
const URL_LENGTH = { minLength: 1, maxLength: 2083 };

/** What z.toJSONSchema says of a leaf, as far as the catalogue uses it. */
interface GeneratedLeaf {
  type?: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  items?: { type?: string; enum?: unknown[] };
  anyOf?: unknown[];
}

export function connectorConfigJsonSchema(schema: SectionedSchema): CatalogueSchema {
  const properties: Record<string, CatalogueProperty> = {};
  const required: string[] = [];
  for (const [section, sectionSchema] of Object.entries(schema.shape)) {
    for (const [key, leaf] of Object.entries<z.ZodType>(sectionSchema.shape)) {
      const variable = envName(section, key);
      if (MANAGER_ASSIGNED.has(variable)) continue;
      properties[variable] = property(variable, leaf);
      // A leaf that cannot parse "unset" has neither a default nor optional().
      if (!leaf.safeParse(undefined).success) required.push(variable);
    }
  }
  // The named destinations (shared/config/destinations.ts) are not leaves of the schema: their list, and one pattern for their settings.
  properties.DESTINATIONS = {
    description: 'Names of the destinations besides `default` (the WEBHOOK_* one), comma-separated; each reads DESTINATION_<NAME>_<KEY> for any WEBHOOK_<KEY>, and DESTINATION_<NAME>_CONSUMER_COUNT (docs/destinations.md).',
    items: { type: 'string' },
    type: 'array',
  };
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: CONFIG_SCHEMA_ID,
    type: 'object',
    properties,
    patternProperties: {
      '^DESTINATION_[A-Z0-9_]+$': { description: 'A setting of a named destination: DESTINATION_<NAME>_<KEY> (docs/destinations.md).', type: 'string' },
    },
    required,
    additionalProperties: true,
  };
}

function property(variable: string, leaf: z.ZodType): CatalogueProperty {
  const meta = leaf.meta() as FieldMeta | undefined;
  // The leaf's output type: what a value becomes once normalised (the input of a preprocess is `unknown`).
  const generated = z.toJSONSchema(leaf, { io: 'output', unrepresentable: 'any' }) as GeneratedLeaf;
  const type = catalogueType(variable, generated, meta);
  const result: CatalogueProperty = { description: meta?.description ?? '', type };
  if (generated.default !== undefined) result.default = type === 'array' && typeof generated.default === 'string' ? splitList(generated.default) : generated.default;
  // pydantic writes a Literal of one value as a const (CONNECTOR_TYPE: STREAM).
  if (generated.enum?.length === 1) result.const = generated.enum[0];
  else if (generated.enum) result.enum = generated.enum;
  if (type === 'array') result.items = generated.items?.enum ? { enum: generated.items.enum, type: 'string' } : { type: 'string' };
  if (typeof generated.minimum === 'number') result.minimum = generated.minimum;
  if (typeof generated.maximum === 'number') result.maximum = generated.maximum;
  if (meta?.format === 'uri') Object.assign(result, { format: meta.format }, URL_LENGTH);
  if (meta?.secret) Object.assign(result, { format: 'password', writeOnly: true });
  if (result.default !== undefined && !fitsType(result.default, type)) {
    throw new Error(`${variable}: default ${JSON.stringify(result.default)} is not of the catalogue type ${type}`);
  }
  return sortKeys(result);
}

/**
 * The type a form would show. A secret is one password box, whatever it holds;
 * a map is JSON text. A union (OPENCTI_SSL_VERIFY: a boolean, or pycti's CA
 * bundle path) takes the type of its default, as upstream types every
 * *_SSL_VERIFY boolean: OPENCTI_CA_FILE carries a CA bundle in the catalogue.
 */
function catalogueType(variable: string, generated: GeneratedLeaf, meta: FieldMeta | undefined): PropertyType {
  if (meta?.secret) return 'string';
  if (TEXT_LISTS.has(variable) || generated.type === 'array') return 'array';
  if (generated.type === 'integer' || generated.type === 'number' || generated.type === 'boolean') return generated.type;
  if (generated.type === undefined && generated.anyOf !== undefined && typeof generated.default === 'boolean') return 'boolean';
  return 'string';
}

function splitList(text: string): string[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean);
}

function fitsType(value: unknown, type: PropertyType): boolean {
  if (type === 'array') return Array.isArray(value) && value.every((item) => typeof item === 'string');
  if (type === 'integer') return Number.isInteger(value);
  return typeof value === type;
}

/** OpenCTI's files list each property's keys alphabetically; so do we, for readable diffs. */
function sortKeys<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b))) as T;
}
