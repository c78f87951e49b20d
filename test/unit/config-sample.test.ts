/**
 * config.yml.sample is what users copy: it must load with the real loaders,
 * as shipped and with its commented destinations example turned on, so a key
 * renamed or a value tightened in the schema cannot leave the sample behind.
 * Only the `<...>` placeholders the sample asks users to replace, and the
 * secrets it tells them to keep in the environment, come from the environment.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { loadDispatcherConfig } from '../../dispatcher/config.js';
import { loadIngesterConfig } from '../../ingester/config.js';
import { repoFile } from '../helpers/docs.js';
import { tempDir } from './config-helpers.js';

const sample = repoFile('config.yml.sample');

/** The values of the sample's REQUIRED placeholders and secrets, as a user would set them. */
const PLACEHOLDERS: Readonly<Record<string, string>> = {
  OPENCTI_URL: 'https://opencti.example.com',
  OPENCTI_TOKEN: 'opencti-api-token',
  CONNECTOR_ID: '1d3c1c52-0a1e-4c39-9e2c-5b6f7e3f9a10',
  CONNECTOR_LIVE_STREAM_ID: 'live',
  WEBHOOK_URL: 'https://soar.example.com/webhook',
};

/** The sample with the commented entries of `destinations:` turned on (their `# ` removed), and the names they define. */
function withDestinationsExample(text: string): { text: string; names: string[] } {
  const lines = text.split('\n');
  const start = lines.indexOf('destinations:');
  assert.ok(start >= 0, 'config.yml.sample has no top-level `destinations:`');
  const names: string[] = [];
  for (let i = start + 1; i < lines.length && lines[i]!.startsWith('  # '); i++) {
    lines[i] = `  ${lines[i]!.slice(4)}`;
    const name = /^ {2}([a-z0-9-]+):$/.exec(lines[i]!)?.[1];
    if (name) names.push(name);
  }
  return { text: lines.join('\n'), names };
}

describe('config.yml.sample', () => {
  const files = tempDir();
  after(() => files.cleanup());
  const plain = files.write('plain.yml', sample);
  const example = withDestinationsExample(sample);
  const withExample = files.write('destinations.yml', example.text);

  it('has placeholders for exactly the required values it leaves to the user', () => {
    const placeholders = [...sample.matchAll(/^\s*[a-z_]+: (<[^>]+>)$/gm)].map((match) => match[1]);
    assert.deepEqual(placeholders, ['<your-opencti-url>', '<your-connector-uuid>', '<your-live-stream-id>', '<your-webhook-url>']);
  });

  it('loads in the ingester and the dispatcher as shipped: one destination, `default`', () => {
    const ingester = loadIngesterConfig({ env: PLACEHOLDERS, file: plain });
    const dispatcher = loadDispatcherConfig({ env: PLACEHOLDERS, file: plain });
    assert.deepEqual(ingester.destinations.map(({ name }) => name), ['default']);
    assert.deepEqual(dispatcher.destinations.map(({ name }) => name), ['default']);
    assert.equal(dispatcher.destinations[0]?.settings.format, 'raw');
    assert.equal(dispatcher.dispatcher.destinations, undefined);
  });

  it('loads with its destinations example turned on, the same destinations for both processes', () => {
    assert.ok(example.names.length >= 2, `the destinations example defines ${example.names.join(', ') || 'nothing'}`);
    const env = { ...PLACEHOLDERS, DESTINATION_SPLUNK_TOKEN: '00000000-0000-0000-0000-000000000000' };
    const ingester = loadIngesterConfig({ env, file: withExample });
    const dispatcher = loadDispatcherConfig({ env, file: withExample });
    const names = ['default', ...example.names];
    assert.deepEqual(ingester.destinations.map(({ name }) => name), names);
    assert.deepEqual(dispatcher.destinations.map(({ name }) => name), names);
    const teams = dispatcher.destinations.find(({ name }) => name === 'teams');
    assert.equal(teams?.settings.format, 'teams');
    assert.deepEqual(teams?.settings.markings_exclude, ['tlp:red', 'tlp:amber+strict']);
    assert.equal(dispatcher.destinations.find(({ name }) => name === 'splunk')?.settings.auth_type, 'SPLUNK');
  });
});
