/**
 * Self-test of the shared test fixtures (test/helpers/*), so a fault test failing means the
 * product failed, not the harness. Runs its own redis-server and fake child scripts; never
 * touches the shared Redis on 6379 or the real product entry points.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { EventEmitter } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { RedisServer } from '../helpers/redis-server.js';
import { RecordingReceiver } from '../helpers/recording-receiver.js';
import { productScript, runToExit, startProcess, stopAll } from '../helpers/processes.js';
import { once, scaled, waitFor, withTimeout } from '../helpers/wait.js';

async function startReceiver(t: { after: (fn: () => Promise<void>) => void }): Promise<{ receiver: RecordingReceiver; agent: Agent }> {
  const receiver = await RecordingReceiver.start();
  const agent = new Agent({ connections: 1 });
  t.after(async () => {
    await receiver.close();
    await agent.close();
  });
  return { receiver, agent };
}

function post(agent: Agent, url: string, body: string | Buffer, id?: string): ReturnType<typeof request> {
  return request(url, {
    method: 'POST',
    dispatcher: agent,
    body,
    headers: { 'content-type': 'application/json', ...(id === undefined ? {} : { 'webhook-id': id }) },
  });
}

describe('wait helpers', () => {
  it('waitFor resolves with the first truthy probe value', async () => {
    let calls = 0;
    const value = await waitFor(() => (++calls >= 3 ? { calls } : undefined), { timeoutMs: 1000, intervalMs: 5, what: 'three calls' });
    assert.deepEqual(value, { calls: 3 });
  });

  it('waitFor times out naming what was awaited and the last value and error', async () => {
    let n = 0;
    await assert.rejects(
      waitFor(
        () => {
          n += 1;
          if (n % 2 === 0) throw new Error('probe boom');
          return 0;
        },
        { timeoutMs: 100, intervalMs: 10, what: 'the answer' },
      ),
      (err: Error) => {
        assert.match(err.message, new RegExp(`timed out after ${scaled(100)} ms waiting for the answer`));
        assert.match(err.message, /last value 0/);
        assert.match(err.message, /last error Error: probe boom/);
        return true;
      },
    );
  });

  it('waitFor cuts off a probe that never settles', async () => {
    await assert.rejects(
      waitFor(() => new Promise<boolean>(() => undefined), { timeoutMs: 80, what: 'a stuck probe' }),
      /waiting for a stuck probe.*did not settle/,
    );
  });

  it('once resolves with the event arguments, or times out with a message', async () => {
    const emitter = new EventEmitter();
    setImmediate(() => emitter.emit('ready', 1, 'two'));
    assert.deepEqual(await once(emitter, 'ready', 1000, 'ready event'), [1, 'two']);
    await assert.rejects(once(emitter, 'never', 50, 'the never event'), /waiting for the never event \(event never\)/);
  });

  it('withTimeout rejects with the awaited thing named', async () => {
    await assert.rejects(withTimeout(new Promise(() => undefined), 30, 'nothing'), /timed out after \d+ ms waiting for nothing/);
  });
});

describe('RedisServer', () => {
  it('starts on a free port, answers PING, and removes its dir on stop', async (t) => {
    const redis = await RedisServer.start();
    t.after(() => redis.stop());
    assert.notEqual(redis.port, 6379);
    assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
    const client = redis.client();
    assert.equal(await client.ping(), 'PONG');
    assert.equal(await client.config('GET', 'appendonly').then((r) => (r)[1]), 'no');
    assert.ok(existsSync(redis.dir));
    await redis.stop();
    assert.equal(existsSync(redis.dir), false);
    assert.equal(client.status, 'end');
    await redis.stop(); // idempotent
  });

  it('keeps AOF data across kill -9 and restart on the same port and dir', async (t) => {
    const redis = await RedisServer.start({ appendonly: true, args: ['--appendfsync', 'always'] });
    t.after(() => redis.stop());
    const { port, dir } = redis;
    const before = redis.client();
    await before.set('survives', 'kill -9');
    const firstPid = redis.pid;

    await redis.kill();
    assert.equal(redis.running, false);
    before.disconnect();

    await redis.restart();
    assert.equal(redis.port, port);
    assert.equal(redis.dir, dir);
    assert.notEqual(redis.pid, firstPid);
    const afterRestart = redis.client();
    assert.equal(await afterRestart.get('survives'), 'kill -9');
  });

  it('reports the redis log tail when redis-server refuses to start', async () => {
    await assert.rejects(RedisServer.start({ args: ['--no-such-directive', 'x'], readyTimeoutMs: 5000 }), (err: Error) => {
      assert.match(err.message, /exited before answering PING/);
      assert.match(err.message, /no-such-directive/);
      return true;
    });
  });
});

describe('RecordingReceiver', () => {
  it('records bodies byte-exactly, with headers, and reuses keep-alive connections', async (t) => {
    const { receiver, agent } = await startReceiver(t);
    assert.match(receiver.url, /^http:\/\/127\.0\.0\.1:\d+\/webhook$/);
    const text = '{"name":"Žluťoučký kůň 🐎 日本","sep":"a\u2028b\u2029c"}';
    const bytes = Buffer.from(text, 'utf8');

    const first = await post(agent, receiver.url, bytes, 'evt-1');
    assert.equal(first.statusCode, 200);
    assert.equal(await first.body.text(), '{"ok":true}');
    assert.equal(first.headers.connection === 'close', false);
    const second = await post(agent, `${receiver.url}?x=1`, 'plain', 'evt-2');
    await second.body.text();

    assert.equal(receiver.requests.length, 2);
    const [r0, r1] = receiver.requests;
    assert.ok(r0 && r1);
    assert.ok(r0.bodyBytes.equals(bytes));
    assert.equal(r0.body, text);
    assert.equal(r0.method, 'POST');
    assert.equal(r0.path, '/webhook');
    assert.equal(r0.headers['webhook-id'], 'evt-1');
    assert.equal(r0.status, 200);
    assert.equal(r1.path, '/webhook?x=1');
    assert.equal(r1.index, 1);
    assert.equal(r1.remotePort, r0.remotePort, 'second request should reuse the keep-alive connection');
    assert.deepEqual([...receiver.deliveredIds()], [['evt-1', 1], ['evt-2', 1]]);
  });

  it('answers scripted statuses: failNext before the script, script by webhook-id', async (t) => {
    const { receiver, agent } = await startReceiver(t);
    receiver.setFaults((r) => (r.headers['webhook-id'] === 'poison' ? { status: 503, headers: { 'retry-after': '1' } } : undefined));
    receiver.failNext(2, { status: 500, body: 'nope' });

    const statuses: number[] = [];
    for (const id of ['a', 'a', 'a', 'poison']) {
      const res = await post(agent, receiver.url, '{}', id);
      statuses.push(res.statusCode);
      if (id === 'poison') assert.equal(res.headers['retry-after'], '1');
      await res.body.text();
    }
    assert.deepEqual(statuses, [500, 500, 200, 503]);
    assert.deepEqual(receiver.requests.map((r) => r.status), [500, 500, 200, 503]);
    assert.equal(receiver.delivered().length, 1);
    assert.deepEqual([...receiver.deliveredIds()], [['a', 1]]);
  });

  it('destroys the socket without answering', async (t) => {
    const { receiver, agent } = await startReceiver(t);
    receiver.failNext(1, { destroy: true });
    await assert.rejects(post(agent, receiver.url, '{"x":1}', 'd1'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'UND_ERR_SOCKET');
      return true;
    });
    assert.equal(receiver.requests.length, 1);
    assert.equal(receiver.requests[0]?.status, undefined);
    assert.equal(receiver.requests[0]?.body, '{"x":1}');
    const ok = await post(agent, receiver.url, '{}', 'd1');
    await ok.body.text();
    assert.equal(ok.statusCode, 200);
  });

  it('delays answers', async (t) => {
    const { receiver, agent } = await startReceiver(t);
    receiver.failNext(1, { delayMs: 200 });
    const started = Date.now();
    const res = await post(agent, receiver.url, '{}');
    await res.body.text();
    assert.ok(Date.now() - started >= 190, `answered after ${Date.now() - started} ms`);
    assert.equal(res.statusCode, 200);
  });

  it('hangs until close() releases the request', async () => {
    const receiver = await RecordingReceiver.start();
    const agent = new Agent();
    try {
      receiver.failNext(1, { hang: true });
      const pending = post(agent, receiver.url, '{}', 'h1');
      // A positive signal first: the request was recorded and is being held.
      await waitFor(() => receiver.inFlight === 1 && receiver.requests.length === 1, { timeoutMs: 2000, what: 'the hung request to arrive' });
      const waiting = assert.rejects(receiver.waitForIds(['h1'], 5000), /receiver closed while waiting for 1 webhook-ids/);
      await receiver.close();
      await assert.rejects(withTimeout(pending, 2000, 'the hung request to be released'), { code: 'UND_ERR_SOCKET' });
      await waiting;
      assert.equal(receiver.requests[0]?.status, undefined);
      await receiver.close(); // idempotent
    } finally {
      await receiver.close();
      await agent.close();
    }
  });

  it('waitForCount resolves on the answer event, and counts only 2xx', async (t) => {
    const { receiver, agent } = await startReceiver(t);
    receiver.failNext(1, { status: 502 });
    const waiting = receiver.waitForCount(2, 2000);
    for (let i = 0; i < 3; i++) await (await post(agent, receiver.url, `{"i":${i}}`)).body.text();
    await waiting;
    assert.equal(receiver.delivered().length, 2);
    assert.equal(receiver.requests.length, 3);
  });

  it('waitForIds names the missing ids on timeout', async (t) => {
    const { receiver, agent } = await startReceiver(t);
    receiver.failNext(1, { status: 500 });
    await (await post(agent, receiver.url, '{}', 'b')).body.text();
    await (await post(agent, receiver.url, '{}', 'a')).body.text();
    const ids = ['a', 'b', 'c', ...Array.from({ length: 12 }, (_, i) => `z${i}`)];
    await assert.rejects(receiver.waitForIds(ids, 100), (err: Error) => {
      assert.match(err.message, /waiting for 15 webhook-ids answered 2xx: 14 of 15 ids missing \(first 10: b, c, z0, z1, z2, z3, z4, z5, z6, z7\)/);
      assert.match(err.message, /2 requests received \(500×1, 200×1\), 1 answered 2xx/);
      return true;
    });
    await receiver.waitForIds(['a'], 100);
  });
});

describe('processes', () => {
  let dir: string;
  let script: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'helpers-test-'));
    script = join(dir, 'fake.mjs');
    // Mimics a product entry point: pino-style JSON lines, a start line, graceful SIGTERM.
    await writeFile(
      script,
      `
const mode = process.env.FAKE_MODE;
if (mode === 'fail') {
  console.error('config error: OPENCTI_URL is required');
  console.log(JSON.stringify({ level: 60, msg: 'config.invalid' }));
  process.exit(3);
}
console.log('banner that is not JSON');
console.log(JSON.stringify({ level: 30, msg: 'ingester.started', env: Object.keys(process.env).sort(), cwd: process.cwd() }));
process.on('SIGTERM', () => { console.log(JSON.stringify({ level: 30, msg: 'ingester.stopped' })); process.exit(0); });
setInterval(() => console.log(JSON.stringify({ level: 30, msg: 'tick' })), 20);
`,
    );
  });

  after(async () => {
    await stopAll();
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves the product script under dist/', () => {
    assert.match(productScript('dispatcher'), /\/dist\/dispatcher\/main\.js$/);
    assert.equal(existsSync(join(productScript('dispatcher'), '..', '..', 'test', 'helpers', 'processes.js')), true);
  });

  it('starts with only PATH plus the given env, in a fresh cwd, and parses JSON logs', async () => {
    const proc = await startProcess('ingester', { FAKE_MODE: 'run', REDIS_URL: 'redis://x' }, { script, timeoutMs: 5000 });
    const started = proc.logs.find((l) => l.msg === 'ingester.started');
    assert.ok(started);
    assert.deepEqual(started.env, ['FAKE_MODE', 'PATH', 'REDIS_URL']);
    assert.equal(typeof started.cwd, 'string');
    assert.notEqual(started.cwd, process.cwd());
    assert.equal(existsSync(join(started.cwd as string, 'config.yml')), false);
    assert.equal(proc.rawStdout, 'banner that is not JSON\n');

    const tick = await proc.waitForLog((l) => l.msg === 'tick', 2000, 'a tick');
    assert.equal(tick.level, 30);
    const exit = await proc.kill('SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.equal(proc.logs.at(-1)?.msg, 'ingester.stopped');
    assert.equal(existsSync(started.cwd as string), false, 'temp cwd removed after exit');
  });

  it('SIGKILLs by default and stopAll() leaves nothing running', async () => {
    const a = await startProcess('ingester', { FAKE_MODE: 'run' }, { script });
    const b = await startProcess('ingester', { FAKE_MODE: 'run' }, { script });
    assert.deepEqual(await a.kill(), { code: null, signal: 'SIGKILL' });
    await stopAll();
    assert.deepEqual(await b.exit, { code: null, signal: 'SIGKILL' });
    assert.throws(() => process.kill(b.pid, 0), { code: 'ESRCH' });
  });

  it('rejects with exit code and output tail when the child exits before its start line', async () => {
    await assert.rejects(startProcess('ingester', { FAKE_MODE: 'fail' }, { script, timeoutMs: 5000 }), (err: Error) => {
      assert.match(err.message, /ingester \(pid \d+\) exited \(exit code 3\) before log line msg=ingester\.started/);
      assert.match(err.message, /config error: OPENCTI_URL is required/);
      assert.match(err.message, /config\.invalid/);
      return true;
    });
  });

  it('waitForLog times out naming what it waited for', async () => {
    const proc = await startProcess('ingester', { FAKE_MODE: 'run' }, { script });
    await assert.rejects(proc.waitForLog((l) => l.msg === 'never', 100, 'the never line'), /timed out after \d+ ms waiting for the never line from ingester/);
    await proc.kill();
  });

  it('runToExit returns code, output and parsed logs', async () => {
    const result = await runToExit('dispatcher', { FAKE_MODE: 'fail' }, 5000, { script });
    assert.equal(result.code, 3);
    assert.match(result.stderr, /OPENCTI_URL is required/);
    assert.deepEqual(result.logs, [{ level: 60, msg: 'config.invalid' }]);
    assert.match(result.stdout, /config\.invalid/);
  });

  it('runToExit kills a child that does not exit and says so', async () => {
    let pid = 0;
    await assert.rejects(runToExit('dispatcher', { FAKE_MODE: 'run' }, 200, { script }), (err: Error) => {
      const match = /timed out after \d+ ms waiting for dispatcher \(pid (\d+)\) to exit by itself/.exec(err.message);
      assert.ok(match, err.message);
      pid = Number(match[1]);
      // Output may be empty if node had not started yet on a loaded machine; the section is always there.
      assert.match(err.message, /--- stderr \(last 15 lines\) ---\n[^]*--- stdout \(last 15 lines\) ---\n/);
      return true;
    });
    assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' }, 'the child was killed');
  });

  it('runs the file it is given with a cwd the test chooses', async () => {
    const cwd = await mkdtemp(join(tmpdir(), 'helpers-cwd-'));
    try {
      const proc = await startProcess('ingester', {}, { script, cwd });
      assert.equal(proc.logs.find((l) => l.msg === 'ingester.started')?.cwd, cwd);
      await proc.kill();
      assert.ok(existsSync(cwd), 'a caller-provided cwd is not removed');
      assert.ok(readFileSync(script, 'utf8').includes('ingester.started'));
    } finally {
      await rm(cwd, { recursive: true, force: true });
    }
  });
});
