import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelayMs, retryDelayMs, type Backoff, type RetryPolicy } from '../../shared/timing/backoff.js';

const POLICY: RetryPolicy = { attempts: 10, baseDelayMs: 1_000, maxDelayMs: 60_000 };
const noJitter = () => 0.5;

describe('backoffDelayMs', () => {
  const BACKOFF: Backoff = { initialMs: 1_000, maxMs: 15_000 };

  it('starts at the initial delay after one failure and doubles up to the maximum', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((failures) => backoffDelayMs(failures, BACKOFF, noJitter)), [1_000, 2_000, 4_000, 8_000, 15_000, 15_000]);
  });

  it('stays finite and capped for huge failure counts', () => {
    assert.equal(backoffDelayMs(5_000, BACKOFF, noJitter), 15_000);
  });

  it('keeps the jitter within ±20 %, the capped delay included, in whole milliseconds', () => {
    for (let i = 0; i <= 100; i++) {
      const r = Math.min(i / 100, 0.999999);
      const early = backoffDelayMs(2, BACKOFF, () => r);
      const capped = backoffDelayMs(10, BACKOFF, () => r);
      assert.ok(early >= 3_200 && early <= 4_800, `random ${r} gave ${early}`);
      assert.ok(capped >= 12_000 && capped <= 18_000, `random ${r} gave ${capped}`);
      assert.ok(Number.isInteger(early) && Number.isInteger(capped));
    }
    assert.equal(backoffDelayMs(2, BACKOFF, () => 0), 3_200);
    assert.equal(backoffDelayMs(10, BACKOFF, () => 0.999999), 18_000);
  });

  it('applies the jitter asked for, none included', () => {
    for (const r of [0, 0.25, 0.999999]) assert.equal(backoffDelayMs(3, { ...BACKOFF, jitter: 0 }, () => r), 8_000);
    assert.equal(backoffDelayMs(3, { ...BACKOFF, jitter: 0.5 }, () => 0), 4_000);
  });

  it('uses Math.random by default and stays within bounds', () => {
    for (let i = 0; i < 50; i++) {
      const delay = backoffDelayMs(1, BACKOFF);
      assert.ok(delay >= 1_600 && delay <= 2_400, String(delay));
    }
  });
});

describe('retryDelayMs', () => {
  it('returns -1 once the attempts are used up', () => {
    assert.equal(retryDelayMs(10, POLICY, 0, noJitter), -1);
    assert.equal(retryDelayMs(11, POLICY, 0, noJitter), -1);
    assert.equal(retryDelayMs(1, { ...POLICY, attempts: 1 }, 0, noJitter), -1);
  });

  it('starts at the base delay and doubles with each attempt', () => {
    assert.deepEqual([1, 2, 3, 4, 5].map((made) => retryDelayMs(made, POLICY, 0, noJitter)), [1_000, 2_000, 4_000, 8_000, 16_000]);
  });

  it('treats zero attempts made like the first', () => {
    assert.equal(retryDelayMs(0, POLICY, 0, noJitter), 1_000);
  });

  it('never exceeds the maximum, whatever the jitter', () => {
    for (const made of [6, 7, 9]) {
      for (const r of [0, 0.5, 0.999999]) assert.ok(retryDelayMs(made, POLICY, 0, () => r) <= POLICY.maxDelayMs, `${made}/${r}`);
    }
    assert.equal(retryDelayMs(9, POLICY, 0, noJitter), 60_000);
  });

  it('stays finite and capped for huge attempt counts', () => {
    const policy = { ...POLICY, attempts: 1_000_000 };
    assert.equal(retryDelayMs(5_000, policy, 0, noJitter), 60_000);
  });

  it('keeps the jitter within ±20 % of the exponential delay', () => {
    for (let i = 0; i <= 100; i++) {
      const r = Math.min(i / 100, 0.999999);
      const delay = retryDelayMs(3, POLICY, 0, () => r);
      assert.ok(delay >= 3_200 && delay <= 4_800, `random ${r} gave ${delay}`);
    }
    assert.equal(retryDelayMs(3, POLICY, 0, () => 0), 3_200);
  });

  it('never retries before a Retry-After, but caps it at the maximum', () => {
    assert.equal(retryDelayMs(1, POLICY, 30_000, noJitter), 30_000);
    assert.equal(retryDelayMs(1, POLICY, 500, noJitter), 1_000);
    assert.equal(retryDelayMs(1, POLICY, 10 * 60_000, noJitter), 60_000);
  });

  it('uses Math.random by default and stays within bounds', () => {
    for (let i = 0; i < 50; i++) {
      const delay = retryDelayMs(2, POLICY);
      assert.ok(delay >= 1_600 && delay <= 2_400, String(delay));
    }
  });
});
