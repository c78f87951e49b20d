/**
 * Topology suite, TLS with an ACL user: a Redis serving TLS only (`--port 0
 * --tls-port`), requiring a client certificate signed by the test's CA, its
 * default user disabled and one ACL user limited to the connector's keys and
 * to non-dangerous commands. The pipeline delivers everything through it;
 * a wrong password or an untrusted certificate stops each process at start
 * with exit 1 and one line naming the variables to fix, and no secret is
 * printed anywhere.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { describeReport, Pipeline } from '../fault/harness.js';
import { createTestPki, type TestPki } from '../helpers/certificates.js';
import { runCliProcess } from '../helpers/cli.js';
import { runToExit, type ProcessKind } from '../helpers/processes.js';
import { RedisServer } from '../helpers/redis-server.js';
import { startTopologyBed, type TopologyBed } from './bed.js';

const USER = 'opencti-webhook';
const PASSWORD = 'redis-acl-Secret-4f9c2e71';
/** What docs/scaling.md recommends: the connector's keys only, no channels, no dangerous command but INFO (BullMQ and ioredis read it) and CLIENT LIST (the dispatcher's restart reclaim). */
const ACL = [USER, 'on', `>${PASSWORD}`, '~opencti-webhook:*', 'resetchannels', '+@all', '-@dangerous', '+info', '+client|list'];

describe('Redis over TLS with an ACL user', () => {
  let pki: TestPki;
  let redis: RedisServer;
  let bed: TopologyBed;
  let redisEnv: Record<string, string> & { REDIS_URL: string };
  before(async () => {
    pki = createTestPki();
    redis = await RedisServer.start({
      appendonly: true,
      tls: { certFile: pki.serverCertFile, keyFile: pki.serverKeyFile, caFile: pki.caFile, authClients: 'yes', probeCertFile: pki.clientCertFile, probeKeyFile: pki.clientKeyFile },
      probeAuth: { username: USER, password: PASSWORD },
      args: ['--user', 'default', 'off', '--user', ...ACL],
    });
    redisEnv = {
      REDIS_URL: redis.url,
      REDIS_USERNAME: USER,
      REDIS_PASSWORD: PASSWORD,
      REDIS_TLS_CA_FILE: pki.caFile,
      REDIS_TLS_CERT_FILE: pki.clientCertFile,
      REDIS_TLS_KEY_FILE: pki.clientKeyFile,
    };
    bed = await startTopologyBed(redisEnv, () => redis.stop());
  });
  after(async () => {
    await (bed?.close() ?? redis?.stop());
    pki?.remove();
  });

  it('delivers every event through TLS with a client certificate and the ACL user; no secret in any output', async (t) => {
    assert.match(redis.url, /^rediss:/);
    const p = Pipeline.on(bed, bed.client);
    const ingester = await p.spawn('ingester');
    const dispatcher = await p.spawn('dispatcher');
    await p.publishDuring(1_000, 5, async () => undefined);
    const report = await p.expectAllDelivered({ timeoutMs: 60_000 });
    t.diagnostic(describeReport(report));
    for (const child of [ingester, dispatcher]) {
      assert.ok(!`${child.stdout}${child.stderr}`.includes(PASSWORD), `${child.kind} printed the Redis password`);
      assert.ok(!child.logs.some((line) => (line.level as number) >= 40 && /NOPERM/.test(JSON.stringify(line))), `${child.kind} hit a NOPERM: the ACL of docs/scaling.md is not enough`);
    }
    const configured = ingester.logs.find((line) => line.msg === 'ingester.configured')?.redis as Record<string, unknown>;
    assert.deepEqual({ tls: configured.tls, username: configured.username, passwordConfigured: configured.passwordConfigured }, { tls: true, username: USER, passwordConfigured: true });
  });

  it('takes the user and password from a rediss:// URL too (CLI)', async () => {
    const url = new URL(redis.url);
    url.username = USER;
    url.password = PASSWORD;
    const env = { ...redisEnv, REDIS_URL: url.toString(), REDIS_USERNAME: '', REDIS_PASSWORD: '', CONNECTOR_ID: 'tls-acl-cli' };
    const run = await runCliProcess(['status'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /queue jobs\s+waiting 0/);
  });

  const rejections: Array<{ name: string; env: () => Record<string, string>; expect: RegExp }> = [
    {
      name: 'a wrong password',
      env: () => ({ REDIS_PASSWORD: 'not-the-password' }),
      expect: /redis\.rejected: Redis refused the credentials \(WRONGPASS.*check REDIS_USERNAME \/ REDIS_PASSWORD/,
    },
    {
      name: 'a certificate signed by a CA that is not trusted',
      env: () => ({ REDIS_TLS_CA_FILE: pki.otherCaFile }),
      expect: /redis\.rejected: TLS: Redis' certificate is not trusted \(set REDIS_TLS_CA_FILE.*\[[A-Z_]+\]/,
    },
  ];
  for (const { name, env, expect } of rejections) {
    it(`stops each process at start with exit 1 and a message naming the variables on ${name}`, async (t) => {
      for (const kind of ['ingester', 'dispatcher'] as ProcessKind[]) {
        const result = await runToExit(kind, bed.env({ ...redisEnv, ...env() }), 20_000);
        assert.equal(result.code, 1, `${kind} exit code\n${result.stdout}${result.stderr}`);
        const fatal = result.logs.find((line) => line.level === 60);
        assert.match(`${String(fatal?.msg)}: ${String(fatal?.hint)}`, expect, `${kind} fatal line\n${result.stdout}`);
        t.diagnostic(`${kind}: ${String(fatal?.msg)}: ${String(fatal?.hint)}`);
        assert.ok(!`${result.stdout}${result.stderr}`.includes(PASSWORD) && !result.stdout.includes('not-the-password'), `${kind} printed a password`);
      }
      const cli = await runCliProcess(['status'], { ...redisEnv, ...env(), CONNECTOR_ID: 'tls-acl-cli' });
      assert.equal(cli.code, 1, cli.stderr);
      assert.match(cli.stderr, /cannot reach Redis at rediss:\/\/127\.0\.0\.1:\d+: /);
      t.diagnostic(`cli: ${cli.stderr.trim()}`);
    });
  }
});
