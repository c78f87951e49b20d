/**
 * `npm run generate:docs`: writes the reference part of docs/configuration.md
 * from the configuration schema (each leaf's description and accepted values,
 * its default, and which processes read it), and the catalogue's
 * __metadata__/CONNECTOR_CONFIG_DOC.md (see connector-config-doc.ts). The
 * hand-written text above the marker line of docs/configuration.md is kept as
 * it is. Commit the result; a test fails when a committed file no longer
 * matches the schema.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { CliConfigSchema } from '../cli/config.js';
import { BoardConfigSchema, DispatcherConfigSchema } from '../dispatcher/config.js';
import { IngesterConfigSchema } from '../ingester/config.js';
import type { FieldMeta } from '../shared/config/fields.js';
import { connectorConfigJsonSchema } from '../shared/config/json-schema.js';
import { envName } from '../shared/config/load.js';
import { ConfigSchema, DestinationRoutingFields, WebhookSection, destinationSchema } from '../shared/config/schema.js';
import { CONNECTOR_CONFIG_DOC_PATH, renderConnectorConfigDoc } from './connector-config-doc.js';

// Compiled, this file is <repo>/dist/scripts/generate-config-docs.js.
export const CONFIG_DOCS_PATH = fileURLToPath(new URL('../../docs/configuration.md', import.meta.url));

/** Everything after this line is generated; everything before it is written by hand. */
export const GENERATED_MARKER = '<!-- Generated from shared/config by `npm run generate:docs`: edit the schema, not the text below. -->';

type SectionedSchema = z.ZodObject<Record<string, z.ZodObject>>;

/** The processes, each with the settings it reads: the "Used by" column. */
const READERS: ReadonlyArray<[name: string, schema: SectionedSchema]> = [
  ['ingester', IngesterConfigSchema],
  ['dispatcher', DispatcherConfigSchema],
  ['board', BoardConfigSchema],
  ['cli', CliConfigSchema],
];

/** One heading per config.yml section; a new section must be given its title here. */
const SECTION_TITLES: Record<string, string> = {
  opencti: 'OpenCTI platform',
  connector: 'Connector',
  webhook: 'Webhook delivery',
  metrics: 'Metrics and health checks',
  redis: 'Redis',
  ingester: 'Ingester',
  dispatcher: 'Dispatcher',
  bull_board: 'Board',
};

/** Every destination's settings: the dispatcher reads them all, the ingester what decides which events a destination gets. */
const DESTINATION_READERS: ReadonlyArray<[name: string, keys: readonly string[]]> = [
  ['ingester', Object.keys(DestinationRoutingFields.shape)],
  ['dispatcher', Object.keys(WebhookSection.shape)],
];

function readersOf(section: string, key: string): string[] {
  if (section === 'webhook') return DESTINATION_READERS.filter(([, keys]) => keys.includes(key)).map(([name]) => name);
  return READERS.filter(([, schema]) => schema.shape[section]?.shape[key] !== undefined).map(([name]) => name);
}

function defaultOf(leaf: z.ZodType): string {
  const generated = z.toJSONSchema(leaf, { io: 'output', unrepresentable: 'any' }) as { default?: unknown };
  if (generated.default !== undefined) return `\`${String(generated.default)}\``;
  // A leaf that cannot parse "unset" has neither a default nor optional().
  return leaf.safeParse(undefined).success ? '–' : '**required**';
}

/** Table cells hold one line, and a `|` would end the cell. */
function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|');
}

function sectionTable(section: string, sectionSchema: z.ZodObject): string[] {
  const title = SECTION_TITLES[section];
  if (!title) throw new Error(`section ${section} has no title in scripts/generate-config-docs.ts`);
  const lines = [`## ${title}`, '', '| Variable (`config.yml` key) | Default | Used by | Meaning |', '|---|---|---|---|'];
  const shape: Record<string, z.ZodType> = sectionSchema.shape;
  for (const [key, leaf] of Object.entries(shape)) {
    const meta = leaf.meta() as FieldMeta | undefined;
    const readers = readersOf(section, key);
    const meaning = [meta?.description ?? '', meta?.accepted ? `Accepts ${meta.accepted}.` : '', meta?.secret ? 'Secret: never logged.' : '']
      .filter(Boolean)
      .join(' ');
    const variable = `\`${envName(section, key)}\` (\`${section}.${key}\`)`;
    lines.push(`| ${variable} | ${defaultOf(leaf)} | ${readers.length > 0 ? readers.join(', ') : 'none (accepted, unused)'} | ${cell(meaning)} |`);
  }
  return [...lines, ''];
}

/** DESTINATIONS and the one setting only the named destinations have; every WEBHOOK_<KEY> exists as DESTINATION_<NAME>_<KEY> too. */
function destinationsTable(): string[] {
  const consumerCount = destinationSchema('DESTINATION_<NAME>_').shape.consumer_count.meta() as FieldMeta | undefined;
  return [
    '## Destinations',
    '',
    'Every `WEBHOOK_<KEY>` above is also a setting of each named destination, as `DESTINATION_<NAME>_<KEY>` (`destinations.<name>.<key>` in config.yml), read by the same processes; see [Destinations](destinations.md).',
    '',
    '| Variable (`config.yml` key) | Default | Used by | Meaning |',
    '|---|---|---|---|',
    `| \`DESTINATIONS\` (keys of \`destinations\`) | – | ingester, dispatcher, board, cli | ${cell('Names of the destinations besides `default` (the WEBHOOK_* one, which exists when WEBHOOK_URL is set or no other is listed); each reads DESTINATION_<NAME>_<KEY>, <NAME> upper-cased with - turned into _. Accepts a comma-separated list of lower-case letters, digits and "-".')} |`,
    `| \`DESTINATION_<NAME>_CONSUMER_COUNT\` (\`destinations.<name>.consumer_count\`) | – | dispatcher | ${cell(`${consumerCount?.description ?? ''} Accepts ${consumerCount?.accepted ?? ''}.`)} |`,
    '',
  ];
}

export function renderConfigReference(): string {
  const lines: string[] = [];
  for (const [section, sectionSchema] of Object.entries(ConfigSchema.shape as Record<string, z.ZodObject>)) {
    lines.push(...sectionTable(section, sectionSchema));
  }
  lines.push(...destinationsTable());
  return lines.join('\n');
}

/** The file as it should be: `current`'s hand-written part, the marker, then the generated reference. */
export function renderConfigDocs(current: string): string {
  const at = current.indexOf(GENERATED_MARKER);
  if (at < 0) throw new Error(`${CONFIG_DOCS_PATH} has lost its marker line: put it back after the hand-written part:\n${GENERATED_MARKER}`);
  return `${current.slice(0, at)}${GENERATED_MARKER}\n\n${renderConfigReference()}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(CONFIG_DOCS_PATH, renderConfigDocs(readFileSync(CONFIG_DOCS_PATH, 'utf8')));
  console.log(`wrote ${CONFIG_DOCS_PATH}`);
  writeFileSync(CONNECTOR_CONFIG_DOC_PATH, renderConnectorConfigDoc(connectorConfigJsonSchema(ConfigSchema)));
  console.log(`wrote ${CONNECTOR_CONFIG_DOC_PATH}`);
}
