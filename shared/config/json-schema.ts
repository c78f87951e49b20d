import { z } from 'zod';
import type { FieldMeta } from './fields.js';
import { envName } from './load.js';

/**
 * The configuration as a JSON Schema (draft 2020-12) in the format of
 * OpenCTI's connector catalogue (`__metadata__/connector_config_schema.json`):
 * one property per environment variable, with its description, type,
 * default and choices. Generated from the zod schema so the two never
 * disagree; `npm run generate:manifest` writes it, a test checks it.
 */
type SectionedSchema = z.ZodObject<Record<string, z.ZodObject>>;

const CONFIG_SCHEMA_ID = 'https://www.filigran.io/connectors/opencti-webhook_config.schema.json';

interface Property {
  description: string;
  type: string;
  default?: unknown;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  format?: string;
  writeOnly?: boolean;
}

export function connectorConfigJsonSchema(schema: SectionedSchema): Record<string, unknown> {
  const properties: Record<string, Property> = {};
  const required: string[] = [];
  for (const [section, sectionSchema] of Object.entries(schema.shape)) {
    for (const [key, leaf] of Object.entries<z.ZodType>(sectionSchema.shape)) {
      const variable = envName(section, key);
      properties[variable] = property(leaf);
      // A leaf that cannot parse "unset" has neither a default nor optional().
      if (!leaf.safeParse(undefined).success) required.push(variable);
    }
  }
  // The named destinations (shared/config/destinations.ts) are not leaves of the schema: their list, and one pattern for their settings.
  properties.DESTINATIONS = {
    description: 'Names of the destinations besides `default` (the WEBHOOK_* one), comma-separated; each reads DESTINATION_<NAME>_<KEY> for any WEBHOOK_<KEY>, and DESTINATION_<NAME>_CONSUMER_COUNT (docs/destinations.md).',
    type: 'string',
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

/** Lists and maps are text in an environment variable (comma-separated, JSON). */
const TEXT_TYPES = new Set(['array', 'object']);

function property(leaf: z.ZodType): Property {
  const meta = leaf.meta() as FieldMeta | undefined;
  // The leaf's output type: what a value becomes once normalised (the input of a preprocess is `unknown`).
  const generated = z.toJSONSchema(leaf, { io: 'output', unrepresentable: 'any' }) as Record<string, unknown>;
  const type = typeof generated.type === 'string' ? generated.type : 'string';
  const result: Property = { description: meta?.description ?? '', type: TEXT_TYPES.has(type) ? 'string' : type };
  if (generated.default !== undefined) result.default = generated.default;
  if (Array.isArray(generated.enum)) result.enum = generated.enum;
  if (typeof generated.minimum === 'number') result.minimum = generated.minimum;
  if (typeof generated.maximum === 'number') result.maximum = generated.maximum;
  if (meta?.format) result.format = meta.format;
  if (meta?.secret) Object.assign(result, { format: 'password', writeOnly: true });
  return sortKeys(result);
}

/** OpenCTI's files list each property's keys alphabetically; so do we, for readable diffs. */
function sortKeys<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b))) as T;
}
