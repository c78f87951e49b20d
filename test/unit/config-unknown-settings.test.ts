/**
 * Unknown settings (shared/config/unknown-settings.ts): variables with the
 * product's prefixes and config.yml keys that no process reads, each with the
 * closest known setting when it looks like a typo of one.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { closestName } from '../../shared/config/closest-name.js';
import { describeUnknownSetting, findUnknownSettings, type UnknownSetting } from '../../shared/config/unknown-settings.js';
import { DISPATCHER_ENV, INGESTER_ENV, tempDir } from './config-helpers.js';

const files = tempDir();
const empty = files.write('empty.yml', '');
after(() => files.cleanup());

type Env = Record<string, string | undefined>;
const fromEnv = (env: Env) => findUnknownSettings({ env, file: empty });
const names = (settings: UnknownSetting[]) => settings.map(({ name }) => name);

describe('findUnknownSettings: environment', () => {
  it('names a misspelt variable and the setting it was probably meant to be', () => {
    assert.deepEqual(fromEnv({ ...DISPATCHER_ENV, WEBHOOK_URLL: 'https://x.example' }), [{ source: 'env', name: 'WEBHOOK_URLL', suggestion: 'WEBHOOK_URL' }]);
    assert.deepEqual(fromEnv({ REDIS_PASSWD: 'x', OPENCTI_TOKNE: 'x', webhook_url: 'x', WEBHOOK_SIGNING_SECRETS: 'x' }), [
      { source: 'env', name: 'OPENCTI_TOKNE', suggestion: 'OPENCTI_TOKEN' },
      { source: 'env', name: 'REDIS_PASSWD', suggestion: 'REDIS_PASSWORD' },
      { source: 'env', name: 'WEBHOOK_SIGNING_SECRETS', suggestion: 'WEBHOOK_SIGNING_SECRET' },
      { source: 'env', name: 'webhook_url', suggestion: 'WEBHOOK_URL' },
    ]);
  });

  it('suggests nothing when no setting is close', () => {
    assert.deepEqual(fromEnv({ WEBHOOK_SOMETHING_ELSE: 'x', REDIS_HOST: 'redis' }), [
      { source: 'env', name: 'REDIS_HOST' },
      { source: 'env', name: 'WEBHOOK_SOMETHING_ELSE' },
    ]);
  });

  it('knows every process’s settings, the secrets’ _FILE twins and the variables read outside the schema', () => {
    const env: Env = {
      ...INGESTER_ENV,
      ...DISPATCHER_ENV,
      WEBHOOK_SIGNING_SECRET: 'x',
      WEBHOOK_CONSUMER_COUNT: '2',
      BULL_BOARD_PASSWORD_FILE: '/run/secrets/board',
      OPENCTI_TOKEN_FILE: '/run/secrets/opencti',
      REDIS_TLS_KEY_FILE: '/tls/key.pem',
      DISPATCHER_DESTINATIONS: 'default',
      INGESTER_LEASE_TTL_MS: '5000',
      METRICS_PORT: '9114',
      CONFIG_FILE: empty,
      CONNECTOR_TYPE: 'STREAM',
      PATH: '/usr/bin',
      HOME: '/root',
      HTTPS_PROXY: 'http://proxy:3128',
    };
    assert.deepEqual(fromEnv(env), []);
  });

  it('refuses _FILE for a setting that is not a secret', () => {
    const found = fromEnv({ WEBHOOK_URL_FILE: '/run/secrets/url', REDIS_TLS_KEY: 'x' });
    assert.deepEqual(names(found), ['REDIS_TLS_KEY', 'WEBHOOK_URL_FILE']);
    assert.match(describeUnknownSetting(found[1]!), /only secret settings accept <VAR>_FILE/);
  });

  it('ignores what Kubernetes, Docker links and the redis image put in the environment', () => {
    const env: Env = {
      REDIS_SERVICE_HOST: '10.0.0.1',
      REDIS_SERVICE_PORT: '6379',
      REDIS_SERVICE_PORT_REDIS: '6379',
      REDIS_PORT: 'tcp://10.0.0.1:6379',
      REDIS_PORT_6379_TCP: 'tcp://10.0.0.1:6379',
      REDIS_PORT_6379_TCP_PROTO: 'tcp',
      REDIS_PORT_6379_TCP_PORT: '6379',
      REDIS_PORT_6379_TCP_ADDR: '10.0.0.1',
      OPENCTI_WEBHOOK_DISPATCHER_SERVICE_HOST: '10.0.0.2',
      OPENCTI_WEBHOOK_DISPATCHER_PORT: 'tcp://10.0.0.2:9113',
      OPENCTI_PORT_8080_TCP_ADDR: '10.0.0.3',
      REDIS_NAME: '/dispatcher/redis',
      REDIS_ENV_REDIS_VERSION: '7.2.4',
      REDIS_VERSION: '7.2.4',
      REDIS_DOWNLOAD_URL: 'http://download.redis.io/x.tar.gz',
      REDIS_DOWNLOAD_SHA: 'abc',
    };
    assert.deepEqual(fromEnv(env), []);
    // The same names with a value a person would type are settings that do not exist.
    assert.deepEqual(names(fromEnv({ REDIS_PORT: '6379', REDIS_NAME: 'queue' })), ['REDIS_NAME', 'REDIS_PORT']);
  });

  it('knows DESTINATION_<NAME>_<KEY> only for the names DESTINATIONS lists', () => {
    const found = fromEnv({ DESTINATIONS: 'soar,team-chat', DESTINATION_SOAR_URL: 'x', DESTINATION_SOAR_TOKEN_FILE: '/s', DESTINATION_TEAM_CHAT_FORMAT: 'teams', DESTINATION_SOAR_URLL: 'x', DESTINATION_SIEM_URL: 'x' });
    assert.deepEqual(found, [
      { source: 'env', name: 'DESTINATION_SIEM_URL' },
      { source: 'env', name: 'DESTINATION_SOAR_URLL', suggestion: 'DESTINATION_SOAR_URL' },
    ]);
    assert.match(describeUnknownSetting(found[0]!), /DESTINATION_<NAME>_<KEY> for a name listed in DESTINATIONS/);
    // The names may come from config.yml's destinations: too.
    const yaml = files.write('listed.yml', 'destinations:\n  siem:\n    url: https://siem.example/x\n');
    assert.deepEqual(findUnknownSettings({ env: { DESTINATION_SIEM_URL: 'x' }, file: yaml }), []);
  });
});

describe('findUnknownSettings: config.yml', () => {
  it('names unknown sections and keys with the closest known one', () => {
    const token = 'x';
    const yaml = files.write(
      'unknown.yml',
      `webhok:\n  url: x\nwebhook:\n  urll: x\n  token_file: /run/secrets/t\n  consumer_count: 2\nconnector:\n  type: STREAM\n  live_stream_idd: x\nredis:\n  password: ${token}\nsomething: 1\n`,
    );
    assert.deepEqual(findUnknownSettings({ env: {}, file: yaml }), [
      { source: 'config.yml', name: 'webhok', suggestion: 'webhook' },
      { source: 'config.yml', name: 'webhook.urll', suggestion: 'webhook.url' },
      { source: 'config.yml', name: 'connector.live_stream_idd', suggestion: 'connector.live_stream_id' },
      { source: 'config.yml', name: 'something' },
    ]);
  });

  it('checks each listed destination’s keys, and names a destination DESTINATIONS leaves out', () => {
    const yaml = files.write('destinations.yml', 'destinations:\n  teams:\n    url: x\n    tokn: y\n    password_file: /p\n  siem:\n    url: y\n');
    assert.deepEqual(findUnknownSettings({ env: { DESTINATIONS: 'teams,siem-2' }, file: yaml }), [
      { source: 'config.yml', name: 'destinations.teams.tokn', suggestion: 'destinations.teams.token' },
      { source: 'config.yml', name: 'destinations.siem', suggestion: 'destinations.siem-2' },
    ]);
    assert.match(describeUnknownSetting({ source: 'config.yml', name: 'destinations.other' }), /this destination is not listed in DESTINATIONS$/);
    assert.match(describeUnknownSetting({ source: 'config.yml', name: 'webhook.url_file' }), /only secret settings accept <key>_file/);
  });

  it('still checks the environment when config.yml cannot be read (the loader reports that)', () => {
    assert.deepEqual(names(findUnknownSettings({ env: { WEBHOOK_URLL: 'x' }, file: `${files.dir}/missing.yml` })), ['WEBHOOK_URLL']);
  });

  it('reads CONFIG_FILE like the loader', () => {
    const yaml = files.write('via-env.yml', 'metrics:\n  prot: 1\n');
    assert.deepEqual(findUnknownSettings({ env: { CONFIG_FILE: yaml } }), [{ source: 'config.yml', name: 'metrics.prot', suggestion: 'metrics.port' }]);
  });
});

describe('closestName', () => {
  it('counts a swap of two neighbours as one edit, and allows one edit per six characters, two at most', () => {
    assert.equal(closestName('WEBHOOK_UTL', ['WEBHOOK_URL', 'WEBHOOK_TYPE']), 'WEBHOOK_URL');
    assert.equal(closestName('WEBHOOK_ULR', ['WEBHOOK_URL']), 'WEBHOOK_URL');
    assert.equal(closestName('REDIS_MODES', ['REDIS_MODE', 'REDIS_MODES_X']), 'REDIS_MODE');
    assert.equal(closestName('abc', ['xyz']), undefined);
    assert.equal(closestName('ab', ['ba']), 'ba');
    assert.equal(closestName('REDIS_XYZ', ['REDIS_URL']), undefined);
    assert.equal(closestName('DESTINATION_SIEM_URL', ['DESTINATION_SOAR_URL']), undefined);
  });
});
