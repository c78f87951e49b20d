/**
 * docs/configuration.md and __metadata__/CONNECTOR_CONFIG_DOC.md: generated
 * from the zod schema (the second through the catalogue schema, in upstream's
 * table form), they must not drift from it; the hand-written part of
 * docs/configuration.md above the marker is kept by the generator.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONNECTOR_CONFIG_DOC_PATH, renderConnectorConfigDoc } from '../../scripts/connector-config-doc.js';
import { CONFIG_DOCS_PATH, GENERATED_MARKER, renderConfigDocs } from '../../scripts/generate-config-docs.js';
import { connectorConfigJsonSchema, type CatalogueSchema } from '../../shared/config/json-schema.js';
import { envName } from '../../shared/config/load.js';
import { ConfigSchema } from '../../shared/config/schema.js';

const committed = readFileSync(CONFIG_DOCS_PATH, 'utf8');

describe('docs/configuration.md', () => {
  it('is what `npm run generate:docs` produces from the configuration schema', () => {
    assert.equal(committed, renderConfigDocs(committed), 'stale: run `npm run generate:docs` and commit the result');
  });

  it('keeps the hand-written part and replaces only what follows the marker', () => {
    const edited = committed.replace(GENERATED_MARKER, `${GENERATED_MARKER}\n| \`STALE_ROW\` | – | – | – |`);
    assert.notEqual(edited, committed);
    assert.equal(renderConfigDocs(edited), committed);
    assert.throws(() => renderConfigDocs(committed.replace(GENERATED_MARKER, '')), /marker/);
  });

  it('has one row per environment variable of the schema, with its default', () => {
    // DESTINATIONS lists the named destinations: its row is in the Destinations table, with their own settings.
    const variables = Object.entries(ConfigSchema.shape).flatMap(([section, sectionSchema]) => Object.keys(sectionSchema.shape).map((key) => envName(section, key)));
    assert.match(committed, /^\| `DESTINATIONS` \(keys of `destinations`\) \|/m);
    const rows = [...committed.matchAll(/^\| `([A-Z0-9_]+)` \(`[a-z_]+\.[a-z_]+`\) \| ([^|]+) \|/gm)].map((row) => row[1]);
    assert.deepEqual(rows, variables);
    assert.match(committed, /^\| `CONNECTOR_CONSUMER_COUNT` \(`connector\.consumer_count`\) \| `10` \| dispatcher \|/m);
    assert.match(committed, /^\| `WEBHOOK_URL` \(`webhook\.url`\) \| \*\*required\*\* \| dispatcher \|/m);
    assert.match(committed, /^\| `REDIS_URL` \(`redis\.url`\) \| `redis:\/\/127\.0\.0\.1:6379` \| ingester, dispatcher, board, cli \|/m);
  });
});

const catalogue = connectorConfigJsonSchema(ConfigSchema);
const catalogueDoc = readFileSync(CONNECTOR_CONFIG_DOC_PATH, 'utf8');
/** The rows of the table, as cells. */
const catalogueRows = catalogueDoc
  .split('\n')
  .filter((line) => /^\| [A-Z][A-Z0-9_]* \|/.test(line))
  .map((line) => line.slice(2, -2).split(' | '));

describe('__metadata__/CONNECTOR_CONFIG_DOC.md', () => {
  it('is what `npm run generate:docs` produces from the catalogue schema', () => {
    assert.equal(catalogueDoc, renderConnectorConfigDoc(catalogue), 'stale: run `npm run generate:docs` and commit the result');
  });

  it('has the title, text and columns of upstream\'s files', () => {
    const lines = catalogueDoc.split('\n');
    assert.equal(lines[0], '# Connector Configurations');
    assert.match(lines[2] ?? '', /^Below is an exhaustive enumeration of all configurable parameters available/);
    assert.equal(lines[4], '### Type: `object`');
    assert.equal(lines[6], '| Property | Type | Required | Possible values | Default | Description |');
    assert.equal(lines[7], '| -------- | ---- | -------- | --------------- | ------- | ----------- |');
    assert.ok(catalogueDoc.endsWith(' |\n'), 'ends with the last row and one newline');
  });

  it('has one row per property, the required ones first, each with six cells', () => {
    const required = catalogue.required;
    const names = Object.keys(catalogue.properties);
    assert.deepEqual(catalogueRows.map((cells) => cells[0]), [...required, ...names.filter((name) => !required.includes(name))]);
    for (const cells of catalogueRows) assert.equal(cells.length, 6, cells[0]);
    for (const cells of catalogueRows) assert.equal(cells[2], required.includes(cells[0] as string) ? '✅' : '', `${cells[0]}: Required`);
    assert.ok(!catalogueRows.some(([name]) => name === 'CONNECTOR_ID'));
  });

  it('writes each kind of setting as upstream\'s tool does', () => {
    const rowOf = (name: string) => catalogueRows.find((cells) => cells[0] === name)?.slice(1, 5);
    assert.deepEqual(rowOf('CONNECTOR_TYPE'), ['`const`', '', '`STREAM`', '`"STREAM"`']);
    assert.deepEqual(rowOf('OPENCTI_URL'), ['`string`', '✅', 'Format: [`uri`](https://json-schema.org/understanding-json-schema/reference/string#built-in-formats)', '']);
    assert.deepEqual(rowOf('OPENCTI_TOKEN'), ['`string`', '✅', 'Format: [`password`](https://json-schema.org/understanding-json-schema/reference/string#built-in-formats)', '']);
    assert.deepEqual(rowOf('OPENCTI_SSL_VERIFY'), ['`boolean`', '', 'boolean', '`true`']);
    assert.deepEqual(rowOf('CONNECTOR_SCOPE'), ['`array`', '', 'string', '`["webhook"]`']);
    assert.deepEqual(rowOf('WEBHOOK_EVENT_TYPES'), ['`array`', '', '`create` `update` `delete` `merge`', '']);
    assert.deepEqual(rowOf('CONNECTOR_LOG_LEVEL'), ['`string`', '', '`debug` `info` `warn` `warning` `error`', '`"info"`']);
    assert.deepEqual(rowOf('CONNECTOR_CONSUMER_COUNT'), ['`integer`', '', '`1 <= x <= 1000`', '`10`']);
    assert.deepEqual(rowOf('WEBHOOK_RATE_LIMIT_PER_SECOND'), ['`number`', '', '`0.01 <= x <= 100000`', '']);
    assert.deepEqual(rowOf('METRICS_ADDR'), ['`string`', '', 'string', '`"0.0.0.0"`']);
  });

  it('keeps a table cell whole: one-sided ranges, line breaks, pipes, non-ASCII defaults', () => {
    const one: CatalogueSchema = {
      ...catalogue,
      required: [],
      properties: {
        LOW: { description: 'a | b\nc', type: 'integer', minimum: 0 },
        HIGH: { description: 'd', type: 'number', maximum: 5 },
        TEXT: { description: 'e', type: 'string', default: 'é', minLength: 1, maxLength: 9 },
      },
    };
    const rows = renderConnectorConfigDoc(one).split('\n').filter((line) => /^\| [A-Z][A-Z0-9_]* \|/.test(line));
    assert.deepEqual(rows, [
      '| LOW | `integer` |  | `0 <= x ` |  | a \\| b<br />c |',
      '| HIGH | `number` |  | ` x <= 5` |  | d |',
      '| TEXT | `string` |  | Length: `1 <= string <= 9` | `"\\u00e9"` | e |',
    ]);
  });
});
