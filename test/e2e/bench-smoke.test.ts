/**
 * Short runs of `npm run bench` (drain and ceiling of a few hundred events; the same with three
 * destinations, and a short isolation run): the benchmark
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

  it('with 3 destinations, delivers every event to each, and in an isolation run A gets every event after its outage', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'opencti-webhook-bench-'));
    dirs.push(dir);
    const out = join(dir, 'results.json');
    const env = {
      ...process.env,
      BENCH_EVENTS: '300',
      BENCH_POOL: '100',
      BENCH_DESTINATIONS: '3',
      BENCH_SCENARIOS: 'drain,isolation',
      BENCH_LIVE_RATES: '50',
      BENCH_LIVE_WARMUP_SECONDS: '1',
      BENCH_ISOLATION_SECONDS: '3',
      BENCH_TIMEOUT_S: '150',
      BENCH_OUT: out,
    };
    try {
      await promisify(execFile)(process.execPath, [BENCH], { env, timeout: scaled(420_000), maxBuffer: 16 * 1024 * 1024 });
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      assert.fail(`the bench failed:\n${stdout ?? ''}\n${stderr ?? ''}`);
    }
    type Check = { unique: number; bodyMismatches: number; unknown: number };
    type Run = { publishedTotal: number; destinations: Array<{ role: string; undelivered: number }>; a: { allDelivered: boolean; missing: number; rejected: number } };
    const results = JSON.parse(await readFile(out, 'utf8')) as {
      errors: string[];
      drain?: { destinations: Array<{ path: string; check: Check }> };
      isolation?: { baseline: Run; outage: Run };
    };
    assert.deepEqual(results.errors, []);
    assert.ok(results.drain, 'a drain result');
    assert.deepEqual(results.drain.destinations.map((d) => [d.path, d.check.unique, d.check.bodyMismatches, d.check.unknown]), [
      ['/d1', 300, 0, 0],
      ['/d2', 300, 0, 0],
      ['/d3', 300, 0, 0],
    ]);
    assert.ok(results.isolation, 'an isolation result');
    for (const run of [results.isolation.baseline, results.isolation.outage]) {
      assert.deepEqual(run.a, { ...run.a, allDelivered: true, missing: 0 });
      assert.deepEqual(run.destinations.map((d) => [d.role, d.undelivered]), [['A', run.destinations[0]!.undelivered], ['B', 0], ['C', 0]]);
    }
    assert.equal(results.isolation.baseline.a.rejected, 0);
    assert.ok(results.isolation.outage.a.rejected > 0, 'A answered 503 during its outage');
  });

  it('runs Redis with the arguments of docker-compose.yml (AOF every second, noeviction, maxmemory with its default)', () => {
    const args = composeRedisArgs().join(' ');
    assert.match(args, /--maxmemory 1gb /);
    assert.match(args, /--appendonly yes/);
    assert.match(args, /--appendfsync everysec/);
    assert.match(args, /--maxmemory-policy noeviction/);
  });
});
