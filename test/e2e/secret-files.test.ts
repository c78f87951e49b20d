/**
 * Secrets from files and unknown-setting warnings with the real processes:
 * the ingester reads the OpenCTI token and the dispatcher the webhook token
 * from files (as Docker and Kubernetes secrets mount them), the receiver gets
 * the token, and no output or Redis value holds either; a misspelt variable
 * is named at start with the setting it was meant to be.
 * Doubles: stream emulator, recording receiver, throwaway redis-server.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { EMULATOR_TOKEN } from '../helpers/factories.js';
import { expectedDeliveries } from '../helpers/oracle.js';
import { runToExit, startProcess, type LogLine } from '../helpers/processes.js';
import { dumpRedis } from '../helpers/redis-dump.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';

const secretsDir = mkdtempSync(join(tmpdir(), 'opencti-webhook-secrets-'));
after(() => rmSync(secretsDir, { recursive: true, force: true }));

function secretFile(name: string, value: string): string {
  const path = join(secretsDir, name);
  writeFileSync(path, `${value}\n`, { mode: 0o600 });
  return path;
}

const unknownSettingWarnings = (logs: LogLine[]) => logs.filter((line) => line.msg === 'config.unknown_setting');

describe('secrets from files and unknown settings, end to end', () => {
  let bed: TestBed | undefined;
  afterEach(async () => {
    await bed?.close();
    bed = undefined;
  });

  it('reads OPENCTI_TOKEN_FILE and WEBHOOK_TOKEN_FILE: the receiver gets the token, and no log or Redis value holds it', async () => {
    bed = await startTestBed();
    const webhookToken = `file-token-${randomBytes(12).toString('hex')}`;
    bed.emulator.publishMany(10);
    const env = bed.env({
      // An empty variable is unset: the file gives the value.
      OPENCTI_TOKEN: '',
      OPENCTI_TOKEN_FILE: secretFile('opencti_token', EMULATOR_TOKEN),
      WEBHOOK_AUTH_TYPE: 'BEARER',
      WEBHOOK_TOKEN_FILE: secretFile('webhook_token', webhookToken),
      CONNECTOR_LOG_LEVEL: 'debug',
    });
    const ingester = await startProcess('ingester', env);
    const dispatcher = await startProcess('dispatcher', env);
    await bed.receiver.waitForCount(expectedDeliveries(bed.emulator.sentFrames()).size, 20_000);
    for (const request of bed.receiver.delivered()) assert.equal(request.headers.authorization, `Bearer ${webhookToken}`);
    assert.equal(dispatcher.logs.find((line) => line.msg === 'destination.configured')?.tokenConfigured, true);

    await ingester.kill('SIGTERM');
    await dispatcher.kill('SIGTERM');
    const client = bed.redis.client();
    const redisText = await dumpRedis(client).finally(() => client.disconnect());
    const outputs = [ingester, dispatcher].map((child) => child.stdout + child.stderr).join('\n');
    for (const secret of [webhookToken, EMULATOR_TOKEN]) {
      assert.ok(!outputs.includes(secret), `a secret (${secret.slice(0, 4)}…) reached the process output`);
      assert.ok(!redisText.includes(secret), `a secret (${secret.slice(0, 4)}…) reached Redis`);
    }
    // The _FILE variables are settings, the Kubernetes service variables are not ours: no warning.
    assert.deepEqual([...unknownSettingWarnings(ingester.logs), ...unknownSettingWarnings(dispatcher.logs)], []);
  });

  it('warns about WEBHOOK_URLL at start, before the fatal line that it caused', async () => {
    const env = {
      OPENCTI_URL: 'http://127.0.0.1:9',
      CONNECTOR_ID: '4b7c0a0e-3a64-4b7e-9a53-0c1f2d3e4f50',
      CONNECTOR_NAME: 'Webhook',
      REDIS_URL: 'redis://127.0.0.1:9',
      WEBHOOK_URLL: 'http://127.0.0.1:9/hook',
      REDIS_SERVICE_HOST: '10.0.0.1',
      REDIS_PORT: 'tcp://10.0.0.1:6379',
    };
    const result = await runToExit('dispatcher', env, 10_000);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.deepEqual(
      result.logs.map((line) => [line.level, line.msg]),
      [
        [40, 'config.unknown_setting'],
        [60, 'config.invalid'],
      ],
    );
    const [warning, fatal] = result.logs;
    assert.equal(warning!.name, 'WEBHOOK_URLL');
    assert.equal(warning!.source, 'env');
    assert.equal(warning!.suggestion, 'WEBHOOK_URL');
    assert.equal(warning!.hint, 'unknown variable WEBHOOK_URLL; did you mean WEBHOOK_URL?');
    assert.match(String(fatal!.hint), /WEBHOOK_URL \(webhook\.url\) is required/);
  });

  it('warns once the configuration is valid, before the process says what it will do', async () => {
    bed = await startTestBed();
    const dispatcher = await startProcess('dispatcher', bed.env({ METRICS_PROT: '9200' }));
    const messages = dispatcher.logs.map((line) => line.msg);
    assert.deepEqual(messages.slice(0, 2), ['config.unknown_setting', 'dispatcher.configured']);
    assert.equal(dispatcher.logs[0]!.suggestion, 'METRICS_PORT');
    assert.equal(dispatcher.logs[0]!.level, 40);
  });
});
