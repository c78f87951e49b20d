/**
 * The OpenCTI catalogue files under __metadata__, held to the conventions of
 * OpenCTI-Platform/connectors (docs/opencti-catalogue.md): the config schema
 * is generated from the zod schema and must not drift from it, nor from what
 * the loader accepts; the manifest has upstream's fields and values.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { loadIngesterConfig } from '../../ingester/config.js';
import { CONFIG_SCHEMA_PATH, renderConfigSchema } from '../../scripts/generate-config-schema.js';
import { connectorConfigJsonSchema, type CatalogueSchema } from '../../shared/config/json-schema.js';
import { ConfigError, envName, loadConfig } from '../../shared/config/load.js';
import { ConfigSchema } from '../../shared/config/schema.js';
import { configError, INGESTER_ENV, tempDir, variables } from './config-helpers.js';

const repoUrl = (path: string) => new URL(`../../../${path}`, import.meta.url);
const schema = JSON.parse(renderConfigSchema()) as CatalogueSchema;
const { properties } = schema;
const files = tempDir();
/** An empty config.yml: only the environment counts. */
const noFile = files.write('empty.yml', '');

/** The settings given as comma-separated lists in the environment. */
const COMMA_LISTS = [
  'CONNECTOR_SCOPE',
  'WEBHOOK_EVENT_TYPES',
  'WEBHOOK_ENTITY_TYPES',
  'WEBHOOK_MARKINGS_EXCLUDE',
  'REDIS_CLUSTER_NODES',
  'REDIS_SENTINELS',
  'DISPATCHER_DESTINATIONS',
  'DESTINATIONS',
];

/** The variables the loader finds wrong in `env`. */
function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(ConfigSchema, { env, file: noFile });
    return [];
  } catch (error) {
    if (error instanceof ConfigError) return error.problems.map(({ variable }) => variable);
    throw error;
  }
}

/** A catalogue value as the manager would put it in the environment: lists comma-separated. */
function envText(value: unknown): string {
  return Array.isArray(value) ? value.join(',') : String(value);
}

describe('__metadata__/connector_config_schema.json', () => {
  after(() => files.cleanup());

  it('is what `npm run generate:manifest` produces from the configuration schema', () => {
    assert.equal(readFileSync(CONFIG_SCHEMA_PATH, 'utf8'), renderConfigSchema(), 'stale: run `npm run generate:manifest` and commit the result');
  });

  it('has the frame of upstream schemas: draft 2020-12, an $id named after the slug, extra variables allowed', () => {
    const { slug } = JSON.parse(readFileSync(repoUrl('__metadata__/connector_manifest.json'), 'utf8')) as { slug: string };
    assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.equal(schema.$id, `https://www.filigran.io/connectors/${slug}_config.schema.json`);
    assert.equal(schema.type, 'object');
    assert.equal(schema.additionalProperties, true);
  });

  it('requires what a manager must ask for, and not CONNECTOR_ID, which the manager assigns', () => {
    assert.deepEqual(schema.required, ['OPENCTI_URL', 'OPENCTI_TOKEN', 'CONNECTOR_NAME', 'CONNECTOR_LIVE_STREAM_ID', 'WEBHOOK_URL']);
    assert.equal(properties.CONNECTOR_ID, undefined, 'upstream leaves CONNECTOR_ID out of the catalogue schema');
    for (const name of schema.required) assert.ok(properties[name], `required ${name} is not a property`);
  });

  it('keeps CONNECTOR_ID required at run time, for a standalone deployment', () => {
    const env: Record<string, string> = { ...INGESTER_ENV };
    delete env.CONNECTOR_ID;
    assert.deepEqual(variables(configError(() => loadIngesterConfig({ env, file: noFile }))), ['CONNECTOR_ID']);
  });

  it('declares CONNECTOR_TYPE as upstream does: a STREAM const, not required', () => {
    const { description, ...rest } = properties.CONNECTOR_TYPE ?? {};
    assert.deepEqual(rest, { const: 'STREAM', default: 'STREAM', type: 'string' });
    assert.ok(description);
    assert.ok(!schema.required.includes('CONNECTOR_TYPE'));
  });

  it('accepts CONNECTOR_TYPE=STREAM, as the manager sets it, and rejects another type by name', () => {
    const env = { ...INGESTER_ENV, WEBHOOK_URL: 'https://receiver.example/hook' };
    assert.equal(loadConfig(ConfigSchema, { env: { ...env, CONNECTOR_TYPE: 'STREAM' }, file: noFile }).connector.type, 'STREAM');
    assert.equal(loadConfig(ConfigSchema, { env, file: noFile }).connector.type, 'STREAM');
    assert.deepEqual(variables(configError(() => loadConfig(ConfigSchema, { env: { ...env, CONNECTOR_TYPE: 'EXTERNAL_IMPORT' }, file: noFile }))), ['CONNECTOR_TYPE']);
    // The ingester, the process that registers as the STREAM connector, refuses another type.
    assert.deepEqual(variables(configError(() => loadIngesterConfig({ env: { ...env, CONNECTOR_TYPE: 'EXTERNAL_IMPORT' }, file: noFile }))), ['CONNECTOR_TYPE']);
  });

  it('types comma-separated lists as arrays of strings, and nothing else', () => {
    const arrays = Object.entries(properties).filter(([, property]) => property.type === 'array').map(([name]) => name);
    assert.deepEqual(arrays.sort(), [...COMMA_LISTS].sort());
    for (const name of COMMA_LISTS) assert.equal(properties[name]?.items?.type, 'string', name);
    assert.deepEqual(properties.CONNECTOR_SCOPE?.default, ['webhook']);
    assert.deepEqual(properties.WEBHOOK_EVENT_TYPES?.items?.enum, ['create', 'update', 'delete', 'merge']);
  });

  it('gives every URL the length limits of upstream URLs', () => {
    const urls = Object.entries(properties).filter(([, property]) => property.format === 'uri');
    assert.deepEqual(urls.map(([name]) => name), ['OPENCTI_URL', 'WEBHOOK_URL', 'REDIS_URL']);
    for (const [name, property] of urls) {
      assert.equal(property.minLength, 1, name);
      assert.equal(property.maxLength, 2083, name);
      assert.equal(property.type, 'string', name);
    }
  });

  it('gives every default the type of its property (OPENCTI_SSL_VERIFY is a boolean, as upstream types SSL_VERIFY)', () => {
    assert.equal(properties.OPENCTI_SSL_VERIFY?.type, 'boolean');
    assert.equal(properties.OPENCTI_SSL_VERIFY?.default, true);
    for (const [name, property] of Object.entries(properties)) {
      if (property.default === undefined) continue;
      const actual = Array.isArray(property.default) ? 'array' : Number.isInteger(property.default) && property.type === 'integer' ? 'integer' : typeof property.default;
      assert.equal(actual, property.type, `${name}: default ${JSON.stringify(property.default)} on a ${property.type}`);
    }
  });

  it('lists the defaults and choices the loader accepts, lists given comma-separated', () => {
    const env: Record<string, string> = { ...INGESTER_ENV, WEBHOOK_URL: 'https://receiver.example/hook' };
    for (const [name, property] of Object.entries(properties)) {
      if (property.default !== undefined) env[name] = envText(property.default);
    }
    const config = loadConfig(ConfigSchema, { env, file: noFile });
    assert.equal(config.opencti.ssl_verify, true);
    assert.equal(config.connector.scope, 'webhook');
    for (const [name, property] of Object.entries(properties)) {
      const choices = property.items?.enum ?? property.enum;
      if (!choices) continue;
      const values = property.items ? [envText(choices)] : choices.map(envText);
      // A choice may need other settings (WEBHOOK_AUTH_TYPE=TOKEN needs a token): only the choice itself must pass.
      for (const value of values) assert.deepEqual(problemsOf({ ...env, [name]: value }).filter((variable) => variable === name), [], `${name}=${value}`);
    }
  });

  it('describes every variable in OpenCTI\'s format, secrets as write-only passwords, and no _FILE variant', () => {
    for (const [name, property] of Object.entries(properties)) {
      assert.match(name, /^[A-Z][A-Z0-9_]+$/);
      // The manager passes values, not files: no <SECRET>_FILE variant (shared/config reads those too).
      if (property.writeOnly) assert.equal(properties[`${name}_FILE`], undefined, `${name}_FILE`);
      assert.ok(typeof property.description === 'string' && property.description.length > 10, `${name} has no description`);
      assert.deepEqual(Object.keys(property), Object.keys(property).sort(), `${name}: keys in alphabetical order, as upstream`);
    }
    for (const secret of ['OPENCTI_TOKEN', 'WEBHOOK_TOKEN', 'WEBHOOK_PASSWORD', 'WEBHOOK_SIGNING_SECRET', 'WEBHOOK_EXTRA_HEADERS', 'REDIS_PASSWORD', 'REDIS_SENTINEL_PASSWORD', 'BULL_BOARD_PASSWORD']) {
      assert.equal(properties[secret]?.format, 'password', secret);
      assert.equal(properties[secret]?.writeOnly, true, secret);
      assert.equal(properties[secret]?.type, 'string', secret);
    }
    assert.deepEqual(properties.WEBHOOK_AUTH_TYPE?.enum, ['NONE', 'TOKEN', 'BEARER', 'BASIC', 'SPLUNK']);
    assert.equal(properties.WEBHOOK_RATE_LIMIT_PER_SECOND?.type, 'number');
    assert.equal(properties.CONNECTOR_CONSUMER_COUNT?.default, 10);
  });

  it('has one property per setting of the configuration schema but CONNECTOR_ID, and DESTINATIONS', () => {
    const settings = Object.entries(ConfigSchema.shape).flatMap(([section, sectionSchema]) => Object.keys(sectionSchema.shape).map((key) => envName(section, key)));
    assert.deepEqual(Object.keys(properties), [...settings.filter((name) => name !== 'CONNECTOR_ID'), 'DESTINATIONS']);
    assert.deepEqual(connectorConfigJsonSchema(ConfigSchema), schema);
  });
});

/** The values upstream's manifest format allows (shared/tools/composer of OpenCTI-Platform/connectors). */
const USE_CASES = new Set([
  'Adversary & Campaign Insights',
  'Vulnerability & Exploit Awareness',
  'Infrastructure & Attack Surface Visibility',
  'Detection & Response Enablement',
  'Fraud, Financial Crime & Cryptocurrency Monitoring',
  'Brand, Digital Risk & Underground Exposure',
  'Third-Party & Supply Chain Oversight',
  'Cloud, SaaS & Platform Security',
  'Geopolitical, Physical & Hybrid Risk Analysis',
  'Market Vertical & Mission-Specific Intelligence',
  'FIMI & Disinformation',
  'Other',
]);
const SOLUTION_CATEGORIES = new Set([
  'Threat Intelligence Feed',
  'Endpoint Detection & Response',
  'SIEM & Security Analytics',
  'Malware Analysis & Sandbox',
  'SOAR & Security Automation',
  'Vulnerability & Exposure Management',
  'Attack Surface Management',
  'Network Security',
  'Email Security',
  'AI Security',
  'Incident Response & Case Management',
  'Digital Risk Protection',
  'Governance, Risk & Compliance',
  'Cloud Security',
  'Enrichment & Reputation',
  'Import, Export & Sharing',
  'Other',
]);
const MANIFEST_FIELDS = [
  'title', 'slug', 'description', 'short_description', 'logo', 'use_cases', 'solution_categories', 'license_type', 'contact', 'verified',
  'last_verified_date', 'playbook_supported', 'max_confidence_level', 'support_version', 'subscription_link', 'source_code', 'manager_supported',
  'container_version', 'container_image', 'container_type',
];

describe('__metadata__/connector_manifest.json', () => {
  const manifest = JSON.parse(readFileSync(repoUrl('__metadata__/connector_manifest.json'), 'utf8')) as Record<string, unknown>;
  const pkg = JSON.parse(readFileSync(repoUrl('package.json'), 'utf8')) as { license: string; repository?: { url?: string } };

  it('has upstream\'s fields, in upstream\'s order', () => {
    assert.deepEqual(Object.keys(manifest), MANIFEST_FIELDS);
  });

  it('is a rolling STREAM container: the ingester image, with the dispatcher named in the description', () => {
    assert.equal(manifest.container_version, 'rolling');
    assert.equal(manifest.container_type, 'STREAM');
    assert.equal(manifest.container_image, 'opencti-webhook-ingester');
    assert.match(String(manifest.container_image), /^[a-z0-9]+(?:[._/-][a-z0-9]+)*$/, 'an image name without registry or tag');
    assert.ok(existsSync(repoUrl('Dockerfile.ingester')));
    assert.match(String(manifest.description), /opencti-webhook-dispatcher/);
  });

  it('points source_code at the repository of package.json', () => {
    const repository = pkg.repository?.url?.replace(/^git\+/, '').replace(/\.git$/, '');
    assert.match(String(repository), /^https:\/\/[^/]+\/[^/]+\/[^/]+$/, 'package.json needs repository.url');
    assert.equal(manifest.source_code, repository);
  });

  it('names its logo by a repo-relative path, as upstream writes it, to a PNG that exists', () => {
    // Upstream writes <connector directory>/__metadata__/logo.<ext> from the root of the repository; here the root is the connector's directory.
    assert.equal(manifest.logo, '__metadata__/logo.png');
    const logo = readFileSync(repoUrl(String(manifest.logo)));
    assert.deepEqual([...logo.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'not a PNG');
  });

  it('uses upstream\'s vocabularies and limits', () => {
    assert.match(String(manifest.slug), /^[a-z0-9]+(?:-[a-z0-9]+)*$/);
    for (const [field, allowed] of [['use_cases', USE_CASES], ['solution_categories', SOLUTION_CATEGORIES]] as const) {
      const values = manifest[field] as string[];
      assert.ok(values.length >= 1 && values.length <= 3 && new Set(values).size === values.length, `${field}: one to three distinct values`);
      for (const value of values) assert.ok(allowed.has(value), `${field}: ${value}`);
    }
    assert.equal(manifest.license_type, pkg.license === 'Apache-2.0' ? 'Free' : 'Commercial');
    assert.ok(String(manifest.short_description).length <= 250);
    assert.match(String(manifest.support_version), /^>=\s*\d+\.\d+\.\d+$/);
    assert.ok(manifest.verified === false || typeof manifest.last_verified_date === 'string', 'a verified connector needs last_verified_date');
    for (const field of ['verified', 'playbook_supported', 'manager_supported']) assert.equal(typeof manifest[field], 'boolean', field);
    assert.ok(Number.isInteger(manifest.max_confidence_level) && (manifest.max_confidence_level as number) <= 100);
  });
});
