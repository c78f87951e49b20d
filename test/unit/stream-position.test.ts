import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StreamPosition } from '../../ingester/position/stream-position.js';

const fresh = () => new StreamPosition({ resumeFrom: '0-0', openEventIds: [] });

describe('StreamPosition: a group of frames sharing an SSE id', () => {
  it('admits every distinct frame of the group', () => {
    const position = fresh();
    assert.equal(position.admit('5-0', 'dep-1'), true);
    assert.equal(position.admit('5-0', 'dep-2'), true);
    assert.equal(position.admit('5-0', 'main'), true);
  });

  it('keeps the resume point before the group while it is open', () => {
    const position = fresh();
    position.admit('5-0', 'dep-1');
    position.admit('5-0', 'main');
    assert.equal(position.resumeFrom, '0-0');
    assert.deepEqual(position.snapshot(), { resumeFrom: '0-0', openId: '5-0', openEventIds: ['dep-1', 'main'] });
  });

  it('moves the resume point to the group once a later id arrives', () => {
    const position = fresh();
    position.admit('5-0', 'a');
    assert.equal(position.admit('6-0', 'b'), true);
    assert.equal(position.resumeFrom, '5-0');
    assert.deepEqual(position.snapshot(), { resumeFrom: '5-0', openId: '6-0', openEventIds: ['b'] });
  });

  it('orders ids numerically when closing a group (5-2 then 5-10)', () => {
    const position = fresh();
    position.admit('5-2', 'a');
    assert.equal(position.admit('5-10', 'b'), true);
    assert.equal(position.resumeFrom, '5-2');
  });
});

describe('StreamPosition: replays', () => {
  it('rejects a frame already seen in the open group', () => {
    const position = fresh();
    position.admit('5-0', 'a');
    assert.equal(position.admit('5-0', 'a'), false);
  });

  it('rejects frames at or before the resume point', () => {
    const position = new StreamPosition({ resumeFrom: '10-0', openEventIds: [] });
    assert.equal(position.admit('10-0', 'x'), false);
    assert.equal(position.admit('9-5', 'y'), false);
    assert.equal(position.admit('9-0', 'z'), false);
  });

  it('rejects a frame of a group closed by a later id', () => {
    const position = fresh();
    position.admit('5-0', 'a');
    position.admit('6-0', 'b');
    assert.equal(position.admit('5-0', 'late'), false);
  });
});

describe('StreamPosition: heartbeats', () => {
  it('close the open group when their id is past it', () => {
    const position = fresh();
    position.admit('5-0', 'a');
    assert.equal(position.heartbeat('7-0'), true);
    assert.equal(position.resumeFrom, '7-0');
    assert.deepEqual(position.snapshot(), { resumeFrom: '7-0', openEventIds: [] });
    assert.equal('openId' in position.snapshot(), false);
  });

  it('leave the open group alone when their id equals or precedes it', () => {
    const position = new StreamPosition({ resumeFrom: '1-0', openEventIds: [] });
    position.admit('5-0', 'a');
    assert.equal(position.heartbeat('5-0'), false);
    assert.equal(position.heartbeat('3-0'), false);
    assert.deepEqual(position.snapshot(), { resumeFrom: '1-0', openId: '5-0', openEventIds: ['a'] });
    assert.equal(position.admit('5-0', 'b'), true);
  });

  it('move the position when no group is open and their id is newer', () => {
    const position = new StreamPosition({ resumeFrom: '1-0', openEventIds: [] });
    assert.equal(position.heartbeat('1-0'), false);
    assert.equal(position.heartbeat('0-9'), false);
    assert.equal(position.heartbeat('2-0'), true);
    assert.equal(position.resumeFrom, '2-0');
  });
});

describe('StreamPosition: snapshot and restart', () => {
  it('round-trips through the constructor', () => {
    const position = fresh();
    position.admit('5-0', 'a');
    position.admit('6-0', 'b');
    position.admit('6-0', 'c');
    const snapshot = position.snapshot();
    assert.deepEqual(new StreamPosition(snapshot).snapshot(), snapshot);
  });

  it('is a copy that later admissions do not change', () => {
    const position = fresh();
    position.admit('5-0', 'a');
    const snapshot = position.snapshot();
    position.admit('5-0', 'b');
    assert.deepEqual(snapshot.openEventIds, ['a']);
  });

  it('after a restart, skips the replayed frames of the open group and admits the rest', () => {
    const before = new StreamPosition({ resumeFrom: '4-0', openEventIds: [] });
    before.admit('5-0', 'dep-1');
    before.admit('5-0', 'dep-2');
    const after = new StreamPosition(before.snapshot());
    assert.equal(after.resumeFrom, '4-0');
    assert.equal(after.admit('5-0', 'dep-1'), false);
    assert.equal(after.admit('5-0', 'dep-2'), false);
    assert.equal(after.admit('5-0', 'main'), true);
    assert.equal(after.admit('6-0', 'next'), true);
    assert.equal(after.resumeFrom, '5-0');
  });
});

describe('StreamPosition: an out-of-order older id', () => {
  it('is admitted but never moves the position backwards', () => {
    const position = new StreamPosition({ resumeFrom: '1-0', openEventIds: [] });
    position.admit('5-0', 'a');
    position.admit('8-0', 'b');
    assert.equal(position.admit('6-0', 'older'), true);
    assert.deepEqual(position.snapshot(), { resumeFrom: '5-0', openId: '8-0', openEventIds: ['b'] });
  });
});

describe('StreamPosition: recover mode', () => {
  it('handles snapshot groups sharing an <updated_at>-0 id, a resume in the middle of them, then live ids', () => {
    const position = fresh();
    // The snapshot: objects updated in the same millisecond share one id.
    for (const [id, event] of [['100-0', 'a'], ['100-0', 'b'], ['105-0', 'c'], ['105-0', 'd']] as const) assert.equal(position.admit(id, event), true);
    // A heartbeat repeats the id of the last frame sent: the group stays open.
    assert.equal(position.heartbeat('105-0'), false);
    const kept = position.snapshot();
    assert.deepEqual(kept, { resumeFrom: '100-0', openId: '105-0', openEventIds: ['c', 'd'] });

    // After a reconnect the platform queries again from the date of the resume
    // id (updated_at >= it): the closed group comes back, and the open one with
    // an object that was not sent before the drop.
    const resumed = new StreamPosition(kept);
    for (const [id, event] of [['100-0', 'a'], ['100-0', 'b'], ['105-0', 'c'], ['105-0', 'd']] as const) assert.equal(resumed.admit(id, event), false, `${id} ${event}`);
    assert.equal(resumed.admit('105-0', 'e'), true);
    // Live events come from Redis, after the recover date.
    assert.equal(resumed.admit('200-3', 'f'), true);
    assert.equal(resumed.resumeFrom, '105-0');
  });
});
