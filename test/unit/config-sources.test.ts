import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { configError, DISPATCHER_ENV, INGESTER_ENV, tempDir } from './config-helpers.js';
import { dispatcherConfig, ingesterConfig } from '../helpers/config.js';

const files = tempDir();
let empty: string;
before(() => {
  empty = files.write('empty.yml', '');
});
after(() => files.cleanup());

describe('loadConfig with config.yml and environment', () => {
  it('reads YAML keys <section>.<key> as the variables <SECTION>_<KEY>', () => {
    const file = files.write('keys.yml', 'connector:\n  live_stream_id: from-yaml\nmetrics:\n  port: 9200\n');
    const config = ingesterConfig({ env: { ...INGESTER_ENV, CONNECTOR_LIVE_STREAM_ID: undefined }, file });
    assert.equal(config.connector.live_stream_id, 'from-yaml');
    assert.equal(config.metrics.port, 9200);
  });

  it('reports a bad YAML value under its environment variable name', () => {
    const file = files.write('bad-key.yml', 'webhook:\n  retry_attempts: lots\n');
    const error = configError(() => dispatcherConfig({ env: DISPATCHER_ENV, file }));
    assert.deepEqual(error.problems.map((p) => [p.variable, p.key]), [['WEBHOOK_RETRY_ATTEMPTS', 'webhook.retry_attempts']]);
  });

  it('lets the environment win over config.yml', () => {
    const file = files.write('override.yml', 'metrics:\n  port: 9200\n  enable: true\n');
    const config = ingesterConfig({ env: { ...INGESTER_ENV, METRICS_PORT: '9300', METRICS_ENABLE: 'no' }, file });
    assert.equal(config.metrics.port, 9300);
    assert.equal(config.metrics.enable, false);
  });

  it('treats an empty environment variable as unset and falls back to config.yml', () => {
    const file = files.write('fallback.yml', 'metrics:\n  port: 9200\n');
    const config = ingesterConfig({ env: { ...INGESTER_ENV, METRICS_PORT: '' }, file });
    assert.equal(config.metrics.port, 9200);
  });

  it('accepts YAML booleans and boolean words', () => {
    const file = files.write('booleans.yml', 'metrics:\n  enable: true\nconnector:\n  live_stream_listen_delete: false\n  live_stream_with_inferences: "Yes"\n');
    const config = ingesterConfig({ env: INGESTER_ENV, file });
    assert.equal(config.metrics.enable, true);
    assert.equal(config.connector.live_stream_listen_delete, false);
    assert.equal(config.connector.live_stream_with_inferences, true);
  });

  it('reads the file named by CONFIG_FILE when no file is given', () => {
    const file = files.write('via-env.yml', 'metrics:\n  port: 9400\n');
    const config = ingesterConfig({ env: { ...INGESTER_ENV, CONFIG_FILE: file } });
    assert.equal(config.metrics.port, 9400);
  });

  it('returns a deeply frozen configuration', () => {
    const config = ingesterConfig({ env: INGESTER_ENV, file: empty });
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.metrics));
    assert.throws(() => {
      (config.metrics as { port: number }).port = 1;
    }, TypeError);
  });
});

describe('loadConfig when config.yml is missing or broken', () => {
  it('rejects a CONFIG_FILE that does not exist, naming CONFIG_FILE', () => {
    const missing = `${files.dir}/nope.yml`;
    const error = configError(() => ingesterConfig({ env: { ...INGESTER_ENV, CONFIG_FILE: missing } }));
    assert.deepEqual(error.problems.map((p) => p.variable), ['CONFIG_FILE']);
    assert.match(error.message, /CONFIG_FILE/);
  });

  it('rejects an explicit file that does not exist', () => {
    const error = configError(() => ingesterConfig({ env: INGESTER_ENV, file: `${files.dir}/nope.yml` }));
    assert.deepEqual(error.problems.map((p) => p.variable), ['CONFIG_FILE']);
  });

  it('runs from the environment alone when the default ./config.yml does not exist', () => {
    const cwd = process.cwd();
    const emptyDir = tempDir();
    process.chdir(emptyDir.dir);
    try {
      const config = ingesterConfig({ env: INGESTER_ENV });
      assert.equal(config.connector.live_stream_id, 'live');
    } finally {
      process.chdir(cwd);
      emptyDir.cleanup();
    }
  });

  it('rejects a file that is not valid YAML, naming CONFIG_FILE', () => {
    const file = files.write('invalid.yml', 'metrics:\n  port: [9113\n');
    const error = configError(() => ingesterConfig({ env: INGESTER_ENV, file }));
    assert.deepEqual(error.problems.map((p) => p.variable), ['CONFIG_FILE']);
    assert.match(error.message, /CONFIG_FILE/);
  });

  // Regression: the YAML parser's message quotes the offending line; it used to
  // be copied into the ConfigError, putting a secret on a broken line into the
  // error message and the startup log.
  it('does not echo a secret from a config.yml that is not valid YAML', () => {
    const file = files.write('secret.yml', 'opencti:\n  url: http://opencti:8080\n  token: s3cr3t-t0ken: oops\n');
    const error = configError(() => ingesterConfig({ env: {}, file }));
    assert.deepEqual(error.problems.map((p) => p.variable), ['CONFIG_FILE']);
    assert.doesNotMatch(error.message, /s3cr3t-t0ken/);
    assert.match(error.message, /line 3/);
  });
});
