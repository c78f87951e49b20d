/**
 * `npm run cli -- check`: every process's configuration validated, then
 * Redis, the OpenCTI API and live stream, and each webhook tried, read-only.
 * Doubles: throwaway redis-server, stream emulator (stream and GraphQL),
 * recording receiver. Oracles: the rows and the exit code; what the doubles
 * saw (no request with a body, no webhook-id, no registration or ping, the
 * stream closed); Redis keys and the stored stream position unchanged.
 */
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { cursorKey } from '../../shared/queue/contract.js';
import { RESULTS, type CheckRow } from '../../cli/probes/row.js';
import { runCliInProcess, runCliJson, runCliProcess } from '../helpers/cli.js';
import { createTestPki } from '../helpers/certificates.js';
import { freePort } from '../helpers/free-port.js';
import { RecordingReceiver } from '../helpers/recording-receiver.js';
import { StreamEmulator } from '../helpers/stream-emulator.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';

const WEBHOOK_TOKEN = 'check-webhook-token-4f1c';
const TIMEOUT = ['--timeout-ms', '3000'];

describe('cli check', () => {
  let bed: TestBed;
  let env: Record<string, string>;
  const check = (overrides: Record<string, string> = {}, expectedCode = 0) => runCliJson<CheckRow[]>(['check', ...TIMEOUT], { ...env, ...overrides }, expectedCode);
  const find = (rows: CheckRow[], name: string, target?: string) => {
    const found = rows.filter((row) => row.check === name && (target === undefined || row.target.includes(target)));
    assert.equal(found.length, 1, `one ${name} row${target ? ` for ${target}` : ''} in ${JSON.stringify(rows, null, 1)}`);
    return found[0]!;
  };

  before(async () => {
    bed = await startTestBed();
    env = bed.env({ WEBHOOK_AUTH_TYPE: 'BEARER', WEBHOOK_TOKEN: WEBHOOK_TOKEN, DESTINATIONS: 'siem', DESTINATION_SIEM_URL: `${bed.receiver.url}-siem` });
  });
  after(() => bed.close());

  it('passes a working setup without queuing, sending, registering or moving anything', async () => {
    const redis = bed.redis.client();
    const position = '1739361240001-0';
    await redis.hset(cursorKey(env.CONNECTOR_ID!), { resumeFrom: position });
    const keysBefore = (await redis.keys('*')).sort();
    const receiverBefore = bed.receiver.requests.length;

    const rows = await check();
    for (const row of rows) {
      // No board credentials: no board-only process, legitimately.
      const expected = row.check === 'config' && row.target === 'board' ? 'skipped' : 'ok';
      assert.equal(row.result, expected, JSON.stringify(row));
    }
    assert.deepEqual(rows.map(({ check: name, target }) => `${name} ${target.split(' ')[0]}`), [
      'config ingester',
      'config dispatcher',
      'config board',
      `redis ${bed.redis.url}`,
      `opencti api ${bed.emulator.url}/graphql`,
      `live stream ${bed.emulator.url}/stream/live-stream-1`,
      'webhook default',
      'webhook siem',
    ]);
    assert.match(find(rows, 'redis').detail, /noeviction/);
    assert.match(find(rows, 'opencti api').detail, /OpenCTI 6\.9\.17/);

    assert.deepEqual((await redis.keys('*')).sort(), keysBefore, 'no key added or removed');
    assert.equal(await redis.hget(cursorKey(env.CONNECTOR_ID!), 'resumeFrom'), position);
    const probes = bed.receiver.requests.slice(receiverBefore);
    assert.deepEqual(probes.map(({ method, path }) => `${method} ${path}`).sort(), ['HEAD /webhook', 'HEAD /webhook-siem']);
    for (const probe of probes) {
      assert.equal(probe.bodyBytes.length, 0, 'no body');
      assert.equal(probe.headers['webhook-id'], undefined, 'no event id');
      assert.equal(probe.headers['webhook-signature'], undefined);
    }
    assert.equal(probes.find(({ path }) => path === '/webhook')?.headers.authorization, `Bearer ${WEBHOOK_TOKEN}`, 'the configured auth is sent');
    for (const operation of ['registerConnector', 'pingConnector']) assert.equal(bed.emulator.platform.requestsFor(operation).length, 0, operation);
    assert.ok(bed.emulator.requests.some(({ path, status }) => path === '/stream/live-stream-1' && status === 200));
    await bed.emulator.waitUntil(() => bed.emulator.openConnections === 0, 5_000, 'the stream closed');
  });

  it('prints a table and exits 0 as a process, without the secrets', async () => {
    const run = await runCliProcess(['check', ...TIMEOUT], env);
    assert.equal(run.code, 0, run.stderr + run.stdout);
    assert.match(run.stdout, /^CHECK\s+TARGET\s+RESULT\s+DETAIL/);
    assert.match(run.stdout, /^webhook\s+siem .*\s+ok\s+HEAD answered 200/m);
    assert.match(run.stdout, /\n\n7 ok, 0 warn, 0 fail, 1 skipped\n$/);
    for (const secret of [env.OPENCTI_TOKEN!, WEBHOOK_TOKEN]) assert.ok(!run.stdout.includes(secret) && !run.stderr.includes(secret), 'no secret in the output');
  });

  it('--json prints an array of rows, each with check, target, result and detail', async () => {
    const rows = await check();
    assert.ok(Array.isArray(rows) && rows.length > 0);
    for (const row of rows) {
      assert.deepEqual(Object.keys(row).sort(), ['check', 'detail', 'result', 'target']);
      assert.ok((RESULTS as readonly string[]).includes(row.result));
      for (const value of Object.values(row)) assert.equal(typeof value, 'string');
    }
  });

  it('fails a webhook that refuses the connection, and only that row', async () => {
    const closed = await freePort();
    const url = `http://127.0.0.1:${closed}/hook?token=in-the-query`;
    const rows = await check({ DESTINATION_SIEM_URL: url }, 1);
    const siem = find(rows, 'webhook', 'siem');
    assert.equal(siem.result, 'fail');
    assert.match(siem.detail, /unreachable \(ECONNREFUSED\)/);
    assert.equal(siem.target, `siem http://127.0.0.1:${closed}/hook`, 'no query string (credentials hide there)');
    assert.equal(rows.filter(({ result }) => result === 'fail').length, 1);
  });

  it('judges HTTP answers: 405 proves the endpoint, 401 and 404 warn, an untrusted certificate fails', async () => {
    const answers: Record<string, number> = { '/webhook': 405, '/webhook-siem': 401 };
    bed.receiver.setFaults((request) => ({ status: answers[request.path] ?? 404 }));
    const pki = createTestPki();
    const https = await RecordingReceiver.start({ tls: { key: pki.serverKey, cert: pki.serverCert } });
    try {
      const rows = await check({ DESTINATIONS: 'siem,lost,tls', DESTINATION_LOST_URL: `${bed.receiver.url}-lost`, DESTINATION_TLS_URL: https.url }, 1);
      const verdict = (name: string) => {
        const { result, detail } = find(rows, 'webhook', `${name} `);
        return `${result}: ${detail}`;
      };
      assert.match(verdict('default'), /^ok: HEAD answered 405: reachable$/);
      assert.match(verdict('siem'), /^warn: HEAD answered 401, OPTIONS 401: the configured credentials were refused/);
      assert.match(verdict('lost'), /^warn: HEAD answered 404, OPTIONS 404: no such path.*DESTINATION_LOST_URL/);
      assert.match(verdict('tls'), /^fail: TLS: certificate not trusted .*\[\w+\]$/);
      assert.equal(https.requests.length, 0);
    } finally {
      bed.receiver.setFaults(undefined);
      await https.close();
      pki.remove();
    }
  });

  it('fails the OpenCTI rows on a wrong token', async () => {
    const rows = await check({ OPENCTI_TOKEN: 'wrong-token-3a9e' }, 1);
    assert.equal(find(rows, 'opencti api').result, 'fail');
    assert.match(find(rows, 'opencti api').detail, /OpenCTI rejected OPENCTI_TOKEN/);
    assert.equal(find(rows, 'live stream').result, 'fail');
    assert.ok(!JSON.stringify(rows).includes('wrong-token-3a9e'));
  });

  it('fails the config rows naming a bad variable, and skips what needs it', async () => {
    const rows = await check({ WEBHOOK_REQUEST_TIMEOUT_MS: 'soon', CONNECTOR_ID: 'not {valid}' }, 1);
    const failed = rows.filter(({ result }) => result === 'fail');
    assert.deepEqual(failed.map(({ target, detail }) => `${target}: ${detail.split(' ')[0]}`).sort(), ['dispatcher: WEBHOOK_REQUEST_TIMEOUT_MS', 'ingester, dispatcher: CONNECTOR_ID']);
    assert.equal(find(rows, 'webhook').result, 'skipped');
    assert.equal(find(rows, 'opencti api').result, 'skipped');
    // Redis needs none of them: still tried.
    assert.equal(find(rows, 'redis').result, 'ok');
  });

  it('checks the board-only process once its credentials are set', async () => {
    const half = await check({ BULL_BOARD_USERNAME: 'admin' }, 1);
    const board = half.filter(({ target }) => target.includes('board'));
    assert.deepEqual(board.map(({ result, detail }) => `${result} ${detail.split(' ')[0]}`), ['fail BULL_BOARD_PASSWORD']);
    const full = await check({ BULL_BOARD_USERNAME: 'admin', BULL_BOARD_PASSWORD: 'board-secret-77' });
    assert.equal(find(full, 'config', 'board').result, 'ok');
    assert.ok(!JSON.stringify(full).includes('board-secret-77'));
  });

  it('warns when Redis may evict the queue', async () => {
    const redis = bed.redis.client();
    await redis.config('SET', 'maxmemory-policy', 'allkeys-lru');
    try {
      const rows = await check();
      assert.equal(find(rows, 'redis').result, 'warn');
      assert.match(find(rows, 'redis').detail, /maxmemory-policy allkeys-lru.*set noeviction/);
    } finally {
      await redis.config('SET', 'maxmemory-policy', 'noeviction');
    }
  });

  it('fails Redis that does not answer, within the timeout', async () => {
    const closed = await freePort();
    const started = Date.now();
    const rows = await check({ REDIS_URL: `redis://:redis-pass-5b@127.0.0.1:${closed}` }, 1);
    assert.ok(Date.now() - started < 10_000);
    assert.equal(find(rows, 'redis').result, 'fail');
    assert.match(find(rows, 'redis').detail, /ECONNREFUSED/);
    assert.ok(!JSON.stringify(rows).includes('redis-pass-5b'));
  });

  it('ends within its timeouts when every server accepts the connection but never answers', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = `127.0.0.1:${(silent.address() as AddressInfo).port}`;
    try {
      const started = Date.now();
      const silentEnv = { ...env, REDIS_URL: `redis://${address}`, OPENCTI_URL: `http://${address}`, WEBHOOK_URL: `http://${address}/hook`, DESTINATIONS: '' };
      const run = await runCliProcess(['check', '--json', '--timeout-ms', '1000'], silentEnv);
      const elapsed = Date.now() - started;
      assert.equal(run.code, 1, run.stderr);
      const rows = JSON.parse(run.stdout) as CheckRow[];
      assert.deepEqual(rows.filter(({ check: name }) => name !== 'config').map(({ check: name, result, detail }) => `${name} ${result} ${detail}`), [
        'redis fail no answer from Redis within 1000 ms',
        'opencti api fail no answer within the timeout (--timeout-ms)',
        'live stream fail no answer within the timeout (--timeout-ms)',
        'webhook fail request timed out',
      ]);
      // Two timeouts at most in a row (HEAD then OPTIONS; the lookup then the stream), plus Node's start: nothing holds the process.
      assert.ok(elapsed < 8_000, `the process took ${elapsed} ms`);
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('warns about a stopped stream and fails an unknown one', async () => {
    const emulator = await StreamEmulator.start({ streams: { 'stopped-1': { live: false } } });
    try {
      const stopped = await check({ OPENCTI_URL: emulator.url, CONNECTOR_LIVE_STREAM_ID: 'stopped-1' });
      assert.equal(find(stopped, 'live stream').result, 'warn');
      assert.match(find(stopped, 'live stream').detail, /stopped/);
      const unknown = await check({ OPENCTI_URL: emulator.url, CONNECTOR_LIVE_STREAM_ID: 'no-such-stream' }, 1);
      assert.match(find(unknown, 'live stream').detail, /no live stream "no-such-stream"/);
    } finally {
      await emulator.close();
    }
  });

  it('--only checks the processes named, as in a container that holds one process\'s settings', async () => {
    const { OPENCTI_TOKEN: _notInTheDispatcherContainer, ...dispatcherEnv } = env;
    const run = await runCliInProcess(['check', '--only', 'dispatcher', '--json', ...TIMEOUT], dispatcherEnv);
    assert.equal(run.code, 0, run.stdout);
    const rows = JSON.parse(run.stdout) as CheckRow[];
    assert.deepEqual(rows.map(({ check: name, target, result }) => `${name} ${target.split(' ')[0]} ${result}`), [
      'config ingester skipped',
      'config dispatcher ok',
      'config board skipped',
      `redis ${bed.redis.url} ok`,
      'webhook default ok',
      'webhook siem ok',
    ]);
  });

  it('refuses --destination and a bad --timeout-ms (usage, exit 2)', async () => {
    for (const args of [['check', '--destination', 'siem'], ['check', '--timeout-ms', '0']]) {
      const run = await runCliInProcess(args, env);
      assert.equal(run.code, 2, args.join(' '));
    }
  });

  it('warns about a misspelled variable, naming the setting it resembles', async () => {
    const rows = await check({ WEBHOOK_URLL: 'http://127.0.0.1:1/typo' });
    const warning = rows.find(({ result, detail }) => result === 'warn' && detail.includes('WEBHOOK_URLL'));
    assert.ok(warning, JSON.stringify(rows, null, 1));
    assert.match(warning.detail, /did you mean WEBHOOK_URL\b/);
  });
});
