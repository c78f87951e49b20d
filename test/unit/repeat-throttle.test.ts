import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RepeatThrottle } from '../../shared/observability/repeat-throttle.js';

describe('RepeatThrottle', () => {
  it('writes the first line of a kind, then one per interval with the count held back', () => {
    let now = 0;
    const throttle = new RepeatThrottle(60_000, () => now);
    assert.deepEqual(throttle.admit('ECONNREFUSED'), { repeated: 0 });
    for (let i = 0; i < 80; i++) {
      now += 250;
      assert.equal(throttle.admit('ECONNREFUSED'), undefined);
    }
    assert.deepEqual(throttle.admit('other'), { repeated: 0 }, 'another kind is written at once');
    now = 60_000;
    assert.deepEqual(throttle.admit('ECONNREFUSED'), { repeated: 80 });
  });

  it('writes anything at once after a reset (a state change)', () => {
    const throttle = new RepeatThrottle(60_000, () => 0);
    throttle.admit('a');
    assert.equal(throttle.admit('a'), undefined);
    throttle.reset();
    assert.deepEqual(throttle.admit('a'), { repeated: 0 });
  });
});
