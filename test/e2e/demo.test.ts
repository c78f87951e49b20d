/**
 * `npm run demo` and the test suite's prerequisite check, run as a newcomer runs them: as
 * processes, with their exit codes and output streams. What is missing (Redis, redis-server)
 * must be one line on stderr saying how to get it, and a non-zero exit, never a stack trace;
 * with Redis available the demo delivers events.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createConnection } from 'node:net';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { findOnPath } from '../../demo/redis-server.js';
import { freePort } from '../helpers/free-port.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { scaled } from '../helpers/wait.js';

const DEMO = fileURLToPath(new URL('../../demo/main.js', import.meta.url));
const CHECK = fileURLToPath(new URL('../../scripts/check-test-prerequisites.js', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a built script with exactly `env` (PATH included) until it exits; rejects if it outlives `timeoutMs`. */
function run(script: string, env: Record<string, string>, timeoutMs: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script], { env, timeout: scaled(timeoutMs), killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(new Error(`${script} did not finish by itself (${error.message})\nstdout:\n${stdout}\nstderr:\n${stderr}`));
      else resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

const scratch = mkdtempSync(join(tmpdir(), 'opencti-webhook-demo-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A PATH without redis-server, redis-cli or openssl, as on a machine where nothing was installed yet. */
const barePath = join(scratch, 'bare-bin');
mkdirSync(barePath);
symlinkSync(process.execPath, join(barePath, 'node'));

/** A Redis URL nobody answers on (the port was free a moment ago). */
async function closedRedisUrl(): Promise<string> {
  return `redis://127.0.0.1:${await freePort()}`;
}

function assertOneLineNoStack(text: string): string {
  const lines = text.trimEnd().split('\n');
  assert.equal(lines.length, 1, `expected one line, got:\n${text}`);
  assert.doesNotMatch(text, /^\s+at /m, 'no stack trace');
  return lines[0]!;
}

describe('demo prerequisites', () => {
  it('without a Redis at REDIS_URL nor redis-server on the PATH, the demo says so in one line and exits 1', async () => {
    const url = await closedRedisUrl();
    const result = await run(DEMO, { PATH: barePath, REDIS_URL: url }, 20_000);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stdout, '');
    const line = assertOneLineNoStack(result.stderr);
    assert.equal(line.startsWith(`demo: no Redis at ${url} and no redis-server on the PATH. Install one: `), true, line);
    assert.match(line, /sudo apt-get install redis-server/);
    assert.match(line, /brew install redis/);
    assert.match(line, /docker run -d -p 6379:6379 redis:7/);
  });

  it('names a tuning variable that is not a number', async () => {
    const result = await run(DEMO, { PATH: barePath, DEMO_RATE: 'fast' }, 20_000);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(assertOneLineNoStack(result.stderr), 'demo: DEMO_RATE must be a number ≥ 0, not "fast"');
  });

  it('does not print the password of REDIS_URL', async () => {
    const url = (await closedRedisUrl()).replace('//', '//demo:s3cret-password@');
    const result = await run(DEMO, { PATH: barePath, REDIS_URL: url }, 20_000);
    assert.equal(result.code, 1, result.stderr);
    assert.doesNotMatch(result.stderr + result.stdout, /s3cret-password/);
  });
});

describe('test prerequisites (pretest)', () => {
  it('names every missing binary and how to install it, in one line, exit 1', async () => {
    const result = await run(CHECK, { PATH: barePath }, 10_000);
    assert.equal(result.code, 1);
    const line = assertOneLineNoStack(result.stderr);
    assert.match(line, /^tests: redis-server, redis-cli and openssl not found on the PATH/);
    assert.match(line, /sudo apt-get install redis-server/);
  });

  it('passes silently when they are on the PATH', async () => {
    const result = await run(CHECK, { PATH: process.env.PATH ?? '' }, 10_000);
    assert.deepEqual(result, { code: 0, stdout: '', stderr: '' });
  });
});

describe('findOnPath', () => {
  it('finds an executable file only', () => {
    const dirs = ['a', 'b', 'c'].map((name) => join(scratch, `lookup-${name}`));
    for (const dir of dirs) mkdirSync(dir);
    writeFileSync(join(dirs[0]!, 'tool'), 'not executable');
    mkdirSync(join(dirs[1]!, 'tool'));
    writeFileSync(join(dirs[2]!, 'tool'), '#!/bin/sh\n');
    chmodSync(join(dirs[2]!, 'tool'), 0o755);
    assert.equal(findOnPath('tool', dirs.join(':')), join(dirs[2]!, 'tool'));
    assert.equal(findOnPath('tool', dirs.slice(0, 2).join(':')), undefined);
    assert.equal(findOnPath('tool', ''), undefined);
  });
});

describe('npm run demo', () => {
  it('starts a throwaway redis-server when REDIS_URL does not answer, delivers events and stops by itself', async () => {
    const result = await run(
      DEMO,
      { PATH: process.env.PATH ?? '', REDIS_URL: await closedRedisUrl(), DEMO_DURATION_S: '3', DEMO_BACKLOG: '300', DEMO_RATE: '100' },
      90_000,
    );
    assert.equal(result.code, 0, `${result.stderr}\n${result.stdout}`);
    assert.equal(result.stderr, '');
    assert.match(result.stdout, /^redis {6}redis:\/\/127\.0\.0\.1:\d+ \(throwaway redis-server\)$/m);
    assert.match(result.stdout, /^ {2}POST \d+-\d+-[0-9a-f]{16} {2}(create|update|delete|merge)/m);
    const delivered = /^delivered (\d+) events in/m.exec(result.stdout);
    assert.ok(delivered, result.stdout);
    // How many depends on the machine's load; that any arrived is what the demo shows.
    assert.ok(Number(delivered[1]) > 0, result.stdout);
  });

  it('stops everything it started on Ctrl-C, its throwaway Redis last', async () => {
    const demo = spawn(process.execPath, [DEMO], { env: { PATH: process.env.PATH ?? '', REDIS_URL: await closedRedisUrl(), DEMO_BACKLOG: '100' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    demo.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(demo, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    const progress = new Promise<void>((resolve) => {
      demo.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (/^\[ +\d+s\] received/m.test(stdout)) resolve();
      });
    });
    const first = await Promise.race([progress.then(() => 'progress' as const), exited.then(() => 'exited' as const), sleep(scaled(60_000), 'timeout' as const, { ref: false })]);
    if (first !== 'exited') demo.kill('SIGINT');
    const [code] = await Promise.race([exited, sleep(scaled(60_000), undefined, { ref: false }).then(() => [-1] as const)]);
    if (code === -1) demo.kill('SIGKILL');
    assert.equal(first, 'progress', `${stderr}\n${stdout}`);
    assert.equal(code, 0, `${stderr}\n${stdout}`);
    assert.match(stdout, /^stopping \(Ctrl-C\)/m);
    assert.match(stdout, /^delivered \d+ events in/m);
    const port = Number(/^redis {6}redis:\/\/127\.0\.0\.1:(\d+) \(throwaway/m.exec(stdout)?.[1]);
    const refused = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => (socket.destroy(), resolve(false)));
      socket.once('error', () => resolve(true));
    });
    assert.equal(refused, true, `the throwaway Redis on port ${port} still runs`);
  });
});
