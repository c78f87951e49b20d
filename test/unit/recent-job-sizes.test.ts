import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecentJobSizes } from '../../ingester/backpressure/recent-job-sizes.js';

describe('RecentJobSizes', () => {
  it('sums the sizes of the newest jobs', () => {
    const sizes = new RecentJobSizes(10, 20);
    for (const n of [20, 20, 3, 1, 1]) sizes.record(n);
    assert.equal(sizes.eventsInNewest(0), 0);
    assert.equal(sizes.eventsInNewest(2), 2);
    assert.equal(sizes.eventsInNewest(3), 5);
    assert.equal(sizes.eventsInNewest(5), 45);
  });

  it('counts jobs older than it remembers as full ones', () => {
    const sizes = new RecentJobSizes(3, 20);
    for (const n of [5, 1, 2, 3]) sizes.record(n);
    // Remembers 1, 2, 3; two more jobs are unknown.
    assert.equal(sizes.eventsInNewest(5), 6 + 2 * 20);
  });
});
