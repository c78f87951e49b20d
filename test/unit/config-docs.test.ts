/**
 * docs/configuration.md: its reference tables are generated from the zod
 * schema and must not drift from it; the hand-written part above the marker
 * is kept by the generator.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONFIG_DOCS_PATH, GENERATED_MARKER, renderConfigDocs } from '../../scripts/generate-config-docs.js';
import { connectorConfigJsonSchema } from '../../shared/config/json-schema.js';
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
    const variables = Object.keys((connectorConfigJsonSchema(ConfigSchema) as { properties: Record<string, unknown> }).properties).filter((name) => name !== 'DESTINATIONS');
    assert.match(committed, /^\| `DESTINATIONS` \(keys of `destinations`\) \|/m);
    const rows = [...committed.matchAll(/^\| `([A-Z0-9_]+)` \(`[a-z_]+\.[a-z_]+`\) \| ([^|]+) \|/gm)].map((row) => row[1]);
    assert.deepEqual(rows, variables);
    assert.match(committed, /^\| `CONNECTOR_CONSUMER_COUNT` \(`connector\.consumer_count`\) \| `10` \| dispatcher \|/m);
    assert.match(committed, /^\| `WEBHOOK_URL` \(`webhook\.url`\) \| \*\*required\*\* \| dispatcher \|/m);
    assert.match(committed, /^\| `REDIS_URL` \(`redis\.url`\) \| `redis:\/\/127\.0\.0\.1:6379` \| ingester, dispatcher, board, cli \|/m);
  });
});
