import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { rootCertificates } from 'node:tls';
import { Cluster, Redis, ReplyError } from 'ioredis';
import { loadConfig } from '../../shared/config/load.js';
import { CliConfigSchema } from '../../cli/config.js';
import { createRedisClient, describeRedis, describeRedisRejection, type RedisClient } from '../../shared/redis/client.js';
import { createTestPki } from '../helpers/certificates.js';
import { configError, tempDir, variables } from './config-helpers.js';

const files = tempDir();
const reply = (message: string): Error => new (ReplyError as new (message: string) => Error)(message);
const pki = createTestPki();
after(() => {
  files.cleanup();
  pki.remove();
});

function redis(env: Record<string, string> = {}) {
  return loadConfig(CliConfigSchema, { env: { CONNECTOR_ID: 'connector-1', ...env }, file: files.write('config.yml', '') }).redis;
}

/** A client that never connects (failFast is lazy), for its options only. */
function client(env: Record<string, string>): RedisClient {
  return createRedisClient(redis(env), 'test', { failFast: true });
}

describe('the redis section', () => {
  it('keeps REDIS_URL alone working as before: one server, credentials and database from the URL', () => {
    const settings = redis({ REDIS_URL: 'redis://user%40corp:p%3Ass@redis.example:6380/2' });
    assert.equal(settings.mode, 'standalone');
    const connection = client({ REDIS_URL: 'redis://user%40corp:p%3Ass@redis.example:6380/2' }) as Redis;
    assert.ok(!(connection instanceof Cluster));
    assert.deepEqual(
      { host: connection.options.host, port: connection.options.port, db: connection.options.db, username: connection.options.username, password: connection.options.password, tls: connection.options.tls },
      { host: 'redis.example', port: 6380, db: 2, username: 'user@corp', password: 'p:ss', tls: undefined },
    );
    assert.equal(redis().url, 'redis://127.0.0.1:6379');
  });

  it('rediss:// turns TLS on, with the CA, client certificate and verification settings', () => {
    const connection = client({
      REDIS_URL: 'rediss://redis.example',
      REDIS_USERNAME: 'webhook',
      REDIS_PASSWORD: 'pw',
      REDIS_TLS_CA_FILE: pki.caFile,
      REDIS_TLS_CERT_FILE: pki.clientCertFile,
      REDIS_TLS_KEY_FILE: pki.clientKeyFile,
    }) as Redis;
    const tls = connection.options.tls as { ca?: string[]; cert?: string; key?: string; rejectUnauthorized?: boolean };
    assert.deepEqual({ ca: tls.ca?.at(-1), cert: Boolean(tls.cert), key: Boolean(tls.key), verify: tls.rejectUnauthorized }, { ca: pki.ca, cert: true, key: true, verify: true });
    assert.deepEqual([connection.options.username, connection.options.password], ['webhook', 'pw']);
    const unverified = client({ REDIS_URL: 'rediss://redis.example', REDIS_TLS_VERIFY: 'false' }) as Redis;
    assert.equal((unverified.options.tls as { rejectUnauthorized?: boolean }).rejectUnauthorized, false);
  });

  it('REDIS_TLS_CA_FILE adds its CA to Node\'s trusted roots, as documented, rather than replacing them', () => {
    const withCa = client({ REDIS_URL: 'rediss://redis.example', REDIS_TLS_CA_FILE: pki.caFile }) as Redis;
    assert.deepEqual((withCa.options.tls as { ca?: string[] }).ca, [...rootCertificates, pki.ca]);
    const sentinels = client({ REDIS_MODE: 'sentinel', REDIS_SENTINELS: 's:1', REDIS_SENTINEL_MASTER: 'm', REDIS_SENTINEL_TLS: 'true', REDIS_TLS_CA_FILE: pki.caFile }) as Redis;
    assert.deepEqual((sentinels.options.sentinelTLS as { ca?: string[] }).ca, [...rootCertificates, pki.ca]);
    // Without the file Node's own roots apply (no `ca` at all).
    const without = client({ REDIS_URL: 'rediss://redis.example' }) as Redis;
    assert.equal((without.options.tls as { ca?: unknown }).ca, undefined);
  });

  it('cluster mode: REDIS_CLUSTER_NODES, else REDIS_URL as the seed', () => {
    const settings = redis({ REDIS_MODE: 'Cluster', REDIS_CLUSTER_NODES: 'a.example:7000, 10.0.0.2:7001,[::1]:7002' });
    assert.equal(settings.mode, 'cluster');
    assert.deepEqual(settings.cluster_nodes, [
      { host: 'a.example', port: 7000 },
      { host: '10.0.0.2', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
    const seeded = client({ REDIS_MODE: 'cluster', REDIS_URL: 'redis://:pw@seed.example:7005' });
    assert.ok(seeded instanceof Cluster);
    assert.deepEqual(describeRedis(redis({ REDIS_MODE: 'cluster', REDIS_URL: 'redis://:pw@seed.example:7005' })).nodes, ['seed.example:7005']);
    assert.equal((seeded).options.redisOptions?.password, 'pw');
    assert.equal((seeded).options.redisOptions?.maxRetriesPerRequest, 1);
  });

  it('sentinel mode: the master name and sentinels, with their own credentials', () => {
    const connection = client({
      REDIS_MODE: 'sentinel',
      REDIS_SENTINELS: 's1:26379,s2:26379',
      REDIS_SENTINEL_MASTER: 'mymaster',
      REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
      REDIS_PASSWORD: 'master-pw',
    }) as Redis;
    assert.deepEqual(connection.options.sentinels, [{ host: 's1', port: 26379 }, { host: 's2', port: 26379 }]);
    assert.deepEqual([connection.options.name, connection.options.sentinelPassword, connection.options.password], ['mymaster', 'sentinel-pw', 'master-pw']);
  });

  it('describes the target for logs without any password', () => {
    const described = JSON.stringify(describeRedis(redis({ REDIS_URL: 'rediss://u:url-secret@h:1', REDIS_TLS_VERIFY: 'false' })));
    assert.ok(!described.includes('url-secret'), described);
    assert.match(described, /"passwordConfigured":true/);
    const sentinel = JSON.stringify(
      describeRedis(redis({ REDIS_MODE: 'sentinel', REDIS_SENTINELS: 's:1', REDIS_SENTINEL_MASTER: 'm', REDIS_SENTINEL_PASSWORD: 'sentinel-secret' })),
    );
    assert.ok(!sentinel.includes('sentinel-secret'), sentinel);
  });

  it('names every incoherent topology setting and what is allowed', () => {
    const cases: Array<[Record<string, string>, string[], RegExp]> = [
      [{ REDIS_MODE: 'replicated' }, ['REDIS_MODE'], /REDIS_MODE .*standalone, cluster, sentinel/],
      [{ REDIS_MODE: 'sentinel' }, ['REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER'], /REDIS_SENTINEL_MASTER .*is required when REDIS_MODE=sentinel/],
      [{ REDIS_CLUSTER_NODES: 'a:1' }, ['REDIS_CLUSTER_NODES'], /is set while REDIS_MODE is not cluster/],
      [{ REDIS_SENTINELS: 'a:1', REDIS_SENTINEL_MASTER: 'm' }, ['REDIS_SENTINELS', 'REDIS_SENTINEL_MASTER'], /REDIS_SENTINELS .*is set while REDIS_MODE is not sentinel/],
      [{ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'a.example' }, ['REDIS_CLUSTER_NODES'], /host:port/],
      [{ REDIS_MODE: 'cluster', REDIS_CLUSTER_NODES: 'a:99999' }, ['REDIS_CLUSTER_NODES'], /host:port/],
      [{ REDIS_MODE: 'cluster', REDIS_URL: 'redis://h:1/3' }, ['REDIS_URL'], /database other than 0/],
      [{ REDIS_URL: 'redis://h:1/queue' }, ['REDIS_URL'], /not a database number/],
      [{ REDIS_URL: 'redis://:in-url@h:1', REDIS_PASSWORD: 'also-set' }, ['REDIS_PASSWORD'], /REDIS_URL holds a password too/],
      [{ REDIS_TLS_CA_FILE: pki.caFile }, ['REDIS_TLS_CA_FILE'], /no Redis connection uses TLS: use a rediss:\/\/ REDIS_URL/],
      [{ REDIS_URL: 'rediss://h', REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' }, ['REDIS_TLS_CA_FILE'], /cannot be read/],
      [{ REDIS_URL: 'rediss://h', REDIS_TLS_CERT_FILE: pki.clientCertFile }, ['REDIS_TLS_KEY_FILE'], /both or neither/],
      [{ REDIS_URL: 'rediss://h', REDIS_TLS_VERIFY: 'false', REDIS_TLS_CA_FILE: pki.caFile }, ['REDIS_TLS_CA_FILE'], /REDIS_TLS_VERIFY=false/],
      [{ REDIS_URL: 'ftp://h' }, ['REDIS_URL'], /scheme redis or rediss/],
    ];
    for (const [env, expected, message] of cases) {
      const error = configError(() => redis(env));
      assert.deepEqual(variables(error), expected, JSON.stringify(env));
      assert.match(error.message, message, JSON.stringify(env));
      assert.ok(!error.message.includes('also-set') && !error.message.includes('in-url'), error.message);
    }
  });

  it('accepts TLS to the sentinels alone (rediss:// not needed for the files then)', () => {
    const settings = redis({ REDIS_MODE: 'sentinel', REDIS_SENTINELS: 's:1', REDIS_SENTINEL_MASTER: 'm', REDIS_SENTINEL_TLS: 'true', REDIS_TLS_CA_FILE: pki.caFile });
    assert.equal(settings.sentinel_tls, true);
  });
});

describe('describeRedisRejection', () => {
  it('turns refusals into the variables to fix and leaves transient failures to retries', () => {
    assert.match(String(describeRedisRejection(reply('WRONGPASS invalid username-password pair or user is disabled.'))), /REDIS_USERNAME \/ REDIS_PASSWORD/);
    assert.match(String(describeRedisRejection(new Error('All sentinels are unreachable. Last error: WRONGPASS invalid'))), /REDIS_SENTINEL_USERNAME \/ REDIS_SENTINEL_PASSWORD/);
    assert.match(String(describeRedisRejection(reply('NOAUTH Authentication required.'))), /requires authentication/);
    assert.match(String(describeRedisRejection(reply("NOPERM User u has no permissions to run the 'info' command\nmore"))), /lacks a permission \(NOPERM User u has no permissions to run the 'info' command\)/);
    assert.match(String(describeRedisRejection(Object.assign(new Error('self-signed'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }))), /REDIS_TLS_CA_FILE/);
    assert.match(String(describeRedisRejection(Object.assign(new Error('altname'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' }))), /does not name the host/);
    for (const transient of [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), reply('LOADING Redis is loading'), reply('CLUSTERDOWN')]) {
      assert.equal(describeRedisRejection(transient), undefined, transient.message);
    }
  });
});
