/**
 * A bad configuration stops the process before it connects anywhere, with one
 * log line naming every bad variable. Oracle: exit code and that line. The
 * URLs point at closed ports, so any connection attempt would hang or log.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runToExit, type ProcessKind } from '../helpers/processes.js';

const VALID: Record<string, string> = {
  OPENCTI_URL: 'http://127.0.0.1:9',
  OPENCTI_TOKEN: 'opencti-secret-token',
  CONNECTOR_ID: '4b7c0a0e-3a64-4b7e-9a53-0c1f2d3e4f50',
  CONNECTOR_NAME: 'Webhook',
  CONNECTOR_LIVE_STREAM_ID: 'live-stream-1',
  WEBHOOK_URL: 'http://127.0.0.1:9/hook',
  REDIS_URL: 'redis://127.0.0.1:9',
};

async function fatalLine(kind: ProcessKind, env: Record<string, string>) {
  const result = await runToExit(kind, env, 10_000);
  assert.equal(result.code, 1, `${kind} exited ${result.code}: ${result.stdout}${result.stderr}`);
  const fatal = result.logs.filter((line) => line.level === 60);
  assert.equal(fatal.length, 1, 'exactly one fatal line');
  assert.equal(result.logs.length, 1, 'nothing was attempted before exiting');
  assert.equal(fatal[0]!.msg, 'config.invalid');
  assert.equal(fatal[0]!.code, 'OWH_CONFIG');
  return { message: String(fatal[0]!.hint), output: result.stdout + result.stderr };
}

describe('configuration errors', () => {
  const cases: Array<{ name: string; kind: ProcessKind; env: Record<string, string>; expect: RegExp[] }> = [
    { name: 'missing live stream id', kind: 'ingester', env: { CONNECTOR_LIVE_STREAM_ID: '' }, expect: [/CONNECTOR_LIVE_STREAM_ID \(connector\.live_stream_id\) is required/] },
    { name: 'ChangeMe live stream id', kind: 'ingester', env: { CONNECTOR_LIVE_STREAM_ID: 'ChangeMe' }, expect: [/CONNECTOR_LIVE_STREAM_ID .*other than ChangeMe/] },
    { name: 'consumer count 0', kind: 'dispatcher', env: { CONNECTOR_CONSUMER_COUNT: '0' }, expect: [/CONNECTOR_CONSUMER_COUNT .*integer from 1 to 1000, got "0"/] },
    { name: 'TOKEN auth without header and token', kind: 'dispatcher', env: { WEBHOOK_AUTH_TYPE: 'token' }, expect: [/WEBHOOK_HEADER .*required when WEBHOOK_AUTH_TYPE=TOKEN/, /WEBHOOK_TOKEN .*required when WEBHOOK_AUTH_TYPE=TOKEN/] },
    { name: 'unknown auth type', kind: 'dispatcher', env: { WEBHOOK_AUTH_TYPE: 'magic' }, expect: [/WEBHOOK_AUTH_TYPE .*NONE, TOKEN, BEARER, BASIC, SPLUNK \(any case\), got "magic"/] },
    { name: 'BASIC auth without a password', kind: 'dispatcher', env: { WEBHOOK_AUTH_TYPE: 'basic', WEBHOOK_USERNAME: 'soar' }, expect: [/WEBHOOK_PASSWORD .*required when WEBHOOK_AUTH_TYPE=BASIC/] },
    {
      name: 'TLS files and HTTPS only',
      kind: 'dispatcher',
      env: { WEBHOOK_CA_FILE: '/nonexistent/ca.pem', WEBHOOK_CLIENT_CERT_FILE: '/nonexistent/client.pem', WEBHOOK_HTTPS_ONLY: 'true' },
      expect: [/WEBHOOK_CA_FILE .*cannot be read: "\/nonexistent\/ca\.pem" \(ENOENT\)/, /WEBHOOK_CLIENT_KEY_FILE .*required when WEBHOOK_CLIENT_CERT_FILE is set/, /WEBHOOK_URL .*WEBHOOK_HTTPS_ONLY=true/],
    },
    { name: 'bad boolean', kind: 'ingester', env: { METRICS_ENABLE: 'maybe' }, expect: [/METRICS_ENABLE .*true\/false, yes\/no or 1\/0/] },
    { name: 'bad webhook URL', kind: 'dispatcher', env: { WEBHOOK_URL: 'ftp://example.org' }, expect: [/WEBHOOK_URL .*http or https/] },
    { name: 'bad redis URL', kind: 'ingester', env: { REDIS_URL: 'localhost:6379' }, expect: [/REDIS_URL .*redis or rediss/] },
    {
      name: 'several problems at once',
      kind: 'dispatcher',
      env: { WEBHOOK_URL: '', CONNECTOR_ID: 'ChangeMe', METRICS_PORT: '70000' },
      expect: [/WEBHOOK_URL/, /CONNECTOR_ID/, /METRICS_PORT .*1 to 65535, got "70000"/],
    },
  ];

  for (const { name, kind, env, expect } of cases) {
    it(`${kind}: ${name} exits 1 naming the variable`, async () => {
      const { message } = await fatalLine(kind, { ...VALID, ...env });
      for (const pattern of expect) assert.match(message, pattern);
    });
  }

  it('never echoes a secret, even an invalid one', async () => {
    const { output } = await fatalLine('dispatcher', {
      ...VALID,
      WEBHOOK_AUTH_TYPE: 'TOKEN',
      WEBHOOK_HEADER: 'X-Key',
      WEBHOOK_TOKEN: 'top-secret\u0007value',
      WEBHOOK_SIGNING_SECRET: 'whsec_top-secret-signing',
      WEBHOOK_EXTRA_HEADERS: '{"X-Tenant": top-secret-header}',
    });
    for (const variable of ['WEBHOOK_TOKEN', 'WEBHOOK_SIGNING_SECRET', 'WEBHOOK_EXTRA_HEADERS']) assert.match(output, new RegExp(variable));
    assert.doesNotMatch(output, /top-secret/);
  });

  it('each process checks only its own settings', async () => {
    // The dispatcher needs no OpenCTI settings, the ingester no webhook: both start
    // and then fail on Redis (port 9), which proves validation passed.
    const noOpencti = { ...VALID, OPENCTI_URL: '', OPENCTI_TOKEN: '', CONNECTOR_LIVE_STREAM_ID: '' };
    const noWebhook = { ...VALID, WEBHOOK_URL: '' };
    for (const [kind, env] of [['dispatcher', noOpencti], ['ingester', noWebhook]] as const) {
      const result = await runToExit(kind, { ...env, CONNECTOR_LOG_LEVEL: 'error' }, 3_000).catch((error: Error) => error);
      // Still running (waiting for Redis) when the timeout hits: validation passed.
      assert.ok(result instanceof Error && /to exit by itself/.test(result.message), `${kind}: ${String(result)}`);
    }
  });
});
