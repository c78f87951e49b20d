/**
 * The OpenCTI catalogue files under __metadata__: the config schema is
 * generated from the zod schema and must not drift from it; the manifest
 * follows the catalogue's format and the package version.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONFIG_SCHEMA_PATH, renderConfigSchema } from '../../scripts/generate-config-schema.js';

const manifestPath = new URL('../../../__metadata__/connector_manifest.json', import.meta.url);

describe('__metadata__/connector_config_schema.json', () => {
  it('is what `npm run generate:manifest` produces from the configuration schema', () => {
    assert.equal(readFileSync(CONFIG_SCHEMA_PATH, 'utf8'), renderConfigSchema(), 'stale: run `npm run generate:manifest` and commit the result');
  });

  it('describes every variable in OpenCTI\'s format, secrets as write-only passwords', () => {
    const schema = JSON.parse(renderConfigSchema()) as { properties: Record<string, Record<string, unknown>>; required: string[] };
    assert.deepEqual(schema.required, ['OPENCTI_URL', 'OPENCTI_TOKEN', 'CONNECTOR_ID', 'CONNECTOR_NAME', 'CONNECTOR_LIVE_STREAM_ID', 'WEBHOOK_URL']);
    for (const [name, property] of Object.entries(schema.properties)) {
      assert.match(name, /^[A-Z][A-Z0-9_]+$/);
      assert.ok(typeof property.description === 'string' && property.description.length > 10, `${name} has no description`);
      assert.ok(['string', 'integer', 'number', 'boolean'].includes(String(property.type)), `${name}: type ${String(property.type)}`);
    }
    for (const secret of ['OPENCTI_TOKEN', 'WEBHOOK_TOKEN', 'WEBHOOK_PASSWORD', 'WEBHOOK_SIGNING_SECRET', 'WEBHOOK_EXTRA_HEADERS', 'BULL_BOARD_PASSWORD']) {
      assert.equal(schema.properties[secret]?.format, 'password', secret);
      assert.equal(schema.properties[secret]?.writeOnly, true, secret);
    }
    assert.deepEqual(schema.properties.WEBHOOK_AUTH_TYPE?.enum, ['NONE', 'TOKEN', 'BEARER', 'BASIC', 'SPLUNK']);
    assert.equal(schema.properties.WEBHOOK_RATE_LIMIT_PER_SECOND?.type, 'number');
    assert.equal(schema.properties.WEBHOOK_ENTITY_TYPES?.type, 'string', 'a list is text in the environment');
    assert.equal(schema.properties.CONNECTOR_CONSUMER_COUNT?.default, 10);
    assert.equal(schema.properties.WEBHOOK_URL?.format, 'uri');
  });
});

describe('__metadata__/connector_manifest.json', () => {
  it('has the catalogue fields, a STREAM container and the package version', () => {
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as Record<string, unknown>;
    const fields = ['title', 'slug', 'description', 'short_description', 'logo', 'use_cases', 'verified', 'last_verified_date', 'playbook_supported',
      'max_confidence_level', 'support_version', 'subscription_link', 'source_code', 'manager_supported', 'container_version', 'container_image', 'container_type'];
    for (const field of fields) assert.ok(field in manifest, `missing ${field}`);
    assert.equal(manifest.container_type, 'STREAM');
    const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    assert.equal(manifest.container_version, version, 'bump container_version with package.json');
    assert.match(String(manifest.slug), /^[a-z0-9-]+$/);
    assert.ok(existsSync(new URL(`../../../${String(manifest.logo)}`, import.meta.url)), `missing ${String(manifest.logo)}`);
  });
});
