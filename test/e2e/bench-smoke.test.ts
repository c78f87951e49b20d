/**
 * A short run of `npm run bench` (drain and ceiling of a few hundred events): the benchmark
 * drives the real processes with production defaults, so a product change that stops it from
 * delivering (as recover mode, on by default on a first start, once did) shows up here rather
 * than in the next performance run. Checks correctness only, never speed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { composeRedisArgs } from '../../bench/compose-redis.js';
import { scaled } from '../helpers/wait.js';

const BENCH = fileURLToPath(new URL('../../bench/run.js', import.meta.url));

describe('npm run bench (smoke)', () => {
  const dirs: string[] = [];
  after(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

  it('drains a small backlog through the real pipeline, every event delivered once with its body intact', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'opencti-webhook-bench-'));
    dirs.push(dir);
    const out = join(dir, 'results.json');
    const env = { ...process.env, BENCH_EVENTS: '300', BENCH_POOL: '100', BENCH_SCENARIOS: 'drain,ceiling', BENCH_TIMEOUT_S: '120', BENCH_OUT: out };
    try {
      await promisify(execFile)(process.execPath, [BENCH], { env, timeout: scaled(240_000), maxBuffer: 16 * 1024 * 1024 });
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      assert.fail(`the bench failed:\n${stdout ?? ''}\n${stderr ?? ''}`);
    }
    const results = JSON.parse(await readFile(out, 'utf8')) as {
      errors: string[];
      drain?: { check: { unique: number; bodyMismatches: number; unknown: number } };
    };
    assert.deepEqual(results.errors, []);
    assert.ok(results.drain, 'a drain result');
    assert.equal(results.drain.check.unique, 300);
    assert.equal(results.drain.check.bodyMismatches, 0);
    assert.equal(results.drain.check.unknown, 0);
  });

  it('runs Redis with the arguments of docker-compose.yml (AOF every second, noeviction, maxmemory with its default)', () => {
    const args = composeRedisArgs().join(' ');
    assert.match(args, /--maxmemory 1gb /);
    assert.match(args, /--appendonly yes/);
    assert.match(args, /--appendfsync everysec/);
    assert.match(args, /--maxmemory-policy noeviction/);
  });
});
