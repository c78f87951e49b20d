import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { configError, DISPATCHER_ENV, INGESTER_ENV, tempDir, variables } from './config-helpers.js';
import { dispatcherConfig, ingesterConfig } from '../helpers/config.js';

const files = tempDir();
const empty = files.write('empty.yml', '');
after(() => files.cleanup());

const ingester = (env: Record<string, string | undefined> = {}) => ingesterConfig({ env: { ...INGESTER_ENV, ...env }, file: empty });
const dispatcher = (env: Record<string, string | undefined> = {}) =>
  dispatcherConfig({ env: { ...DISPATCHER_ENV, ...env }, file: empty });

describe('boolean variables', () => {
  it('accept true/false, yes/no and 1/0 in any case', () => {
    const cases: Array<[string, boolean]> = [['FALSE', false], ['1', true], ['0', false], ['Yes', true], ['no', false], ['True', true]];
    for (const [text, expected] of cases) assert.equal(ingester({ METRICS_ENABLE: text }).metrics.enable, expected, text);
  });

  it('reject other words, naming the variable and what is accepted', () => {
    const error = configError(() => ingester({ METRICS_ENABLE: 'maybe' }));
    assert.deepEqual(variables(error), ['METRICS_ENABLE']);
    assert.match(error.message, /METRICS_ENABLE .*true\/false, yes\/no or 1\/0/);
  });
});

describe('webhook authentication', () => {
  it('defaults to NONE', () => {
    assert.equal(dispatcher().webhook.auth_type, 'NONE');
  });

  it('accepts `token` in lower case', () => {
    const config = dispatcher({ WEBHOOK_AUTH_TYPE: 'token', WEBHOOK_HEADER: 'X-Api-Key', WEBHOOK_TOKEN: 'abc' });
    assert.equal(config.webhook.auth_type, 'TOKEN');
    assert.equal(config.webhook.header, 'X-Api-Key');
  });

  it('with TOKEN requires both WEBHOOK_HEADER and WEBHOOK_TOKEN', () => {
    assert.deepEqual(variables(configError(() => dispatcher({ WEBHOOK_AUTH_TYPE: 'TOKEN' }))), ['WEBHOOK_HEADER', 'WEBHOOK_TOKEN']);
    assert.deepEqual(variables(configError(() => dispatcher({ WEBHOOK_AUTH_TYPE: 'TOKEN', WEBHOOK_HEADER: 'X-Key' }))), ['WEBHOOK_TOKEN']);
    assert.deepEqual(variables(configError(() => dispatcher({ WEBHOOK_AUTH_TYPE: 'TOKEN', WEBHOOK_TOKEN: 'abc' }))), ['WEBHOOK_HEADER']);
  });

  it('rejects a header name containing a space', () => {
    const error = configError(() => dispatcher({ WEBHOOK_AUTH_TYPE: 'TOKEN', WEBHOOK_HEADER: 'X Api Key', WEBHOOK_TOKEN: 'abc' }));
    assert.deepEqual(variables(error), ['WEBHOOK_HEADER']);
  });
});

describe('connector settings', () => {
  it('require CONNECTOR_LIVE_STREAM_ID', () => {
    assert.deepEqual(variables(configError(() => ingester({ CONNECTOR_LIVE_STREAM_ID: undefined }))), ['CONNECTOR_LIVE_STREAM_ID']);
  });

  it('reject the ChangeMe placeholder as CONNECTOR_LIVE_STREAM_ID in any case', () => {
    for (const value of ['ChangeMe', 'changeme', 'CHANGEME']) {
      assert.deepEqual(variables(configError(() => ingester({ CONNECTOR_LIVE_STREAM_ID: value }))), ['CONNECTOR_LIVE_STREAM_ID'], value);
    }
  });

  it('default CONNECTOR_CONSUMER_COUNT to 10 and reject 0, -1 and non-integers', () => {
    assert.equal(dispatcher().connector.consumer_count, 10);
    for (const value of ['0', '-1', 'ten', '2.5']) {
      assert.deepEqual(variables(configError(() => dispatcher({ CONNECTOR_CONSUMER_COUNT: value }))), ['CONNECTOR_CONSUMER_COUNT'], value);
    }
  });
});

describe('a configuration with several mistakes', () => {
  it('is reported in one ConfigError naming every variable and what it accepts', () => {
    const error = configError(() =>
      dispatcher({ WEBHOOK_URL: 'ftp://x', CONNECTOR_CONSUMER_COUNT: 'ten', METRICS_ENABLE: 'maybe', REDIS_URL: 'http://redis' }),
    );
    assert.equal(error.code, 'OWH_CONFIG');
    assert.deepEqual(variables(error), ['CONNECTOR_CONSUMER_COUNT', 'METRICS_ENABLE', 'REDIS_URL', 'WEBHOOK_URL']);
    assert.match(error.message, /WEBHOOK_URL .*absolute URL with scheme http or https/);
    assert.match(error.message, /CONNECTOR_CONSUMER_COUNT .*an integer from 1 to 1000/);
    assert.match(error.message, /METRICS_ENABLE .*true\/false/);
    assert.match(error.message, /REDIS_URL .*scheme redis or rediss/);
  });

  it('never shows the value of a secret', () => {
    const badToken = 'hunter2\nx9-p4ss';
    const error = configError(() => dispatcher({ WEBHOOK_AUTH_TYPE: 'TOKEN', WEBHOOK_HEADER: 'X-Key', WEBHOOK_TOKEN: badToken }));
    assert.deepEqual(variables(error), ['WEBHOOK_TOKEN']);
    assert.ok(!error.message.includes('hunter2') && !error.message.includes('x9-p4ss'), error.message);

    const file = files.write('secret-list.yml', 'opencti:\n  token: [opencti-s3cret]\n');
    const fromYaml = configError(() => ingesterConfig({ env: { ...INGESTER_ENV, OPENCTI_TOKEN: undefined }, file }));
    assert.deepEqual(variables(fromYaml), ['OPENCTI_TOKEN']);
    assert.doesNotMatch(fromYaml.message, /opencti-s3cret/);
  });
});

describe('process-specific schemas', () => {
  it('the ingester does not need WEBHOOK_URL: of the webhook section it reads WEBHOOK_ORDERING only', () => {
    assert.deepEqual(Object.keys(ingester().webhook), ['ordering']);
  });

  it('the dispatcher does not need OPENCTI_URL, OPENCTI_TOKEN or CONNECTOR_LIVE_STREAM_ID', () => {
    const config = dispatcher({ OPENCTI_URL: undefined, OPENCTI_TOKEN: undefined, CONNECTOR_LIVE_STREAM_ID: undefined });
    assert.equal(config.opencti.url, undefined);
    assert.equal(config.connector.live_stream_id, undefined);
  });
});

describe('defaults', () => {
  it('fill in metrics, Redis and live stream options', () => {
    const config = ingester();
    assert.deepEqual(config.metrics, { enable: false, addr: '0.0.0.0', port: 9113 });
    assert.equal(config.redis.url, 'redis://127.0.0.1:6379');
    assert.equal(config.connector.live_stream_listen_delete, true);
    assert.equal(config.connector.live_stream_no_dependencies, true);
    assert.equal(config.connector.live_stream_with_inferences, false);
  });
});
