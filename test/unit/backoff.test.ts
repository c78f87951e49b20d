import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { retryDelayMs, type RetryPolicy } from '../../dispatcher/backoff.js';

const POLICY: RetryPolicy = { attempts: 10, baseDelayMs: 1_000, maxDelayMs: 60_000 };
const noJitter = () => 0.5;

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
