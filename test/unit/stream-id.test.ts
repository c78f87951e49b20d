import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareStreamIdParts, compareStreamIds, isStreamId, parseStreamId, streamIdMs } from '../../shared/opencti/stream-id.js';

describe('isStreamId', () => {
  it('accepts <ms>-<seq> ids', () => {
    for (const id of ['0-0', '9-0', '1700000000000-12']) assert.equal(isStreamId(id), true, id);
  });

  it('rejects anything else', () => {
    for (const id of ['', '1', '1-', '-1', 'a-1', '1-b', '1-2-3', ' 1-2', '1-2 ', '1.5-2', '+1-2']) {
      assert.equal(isStreamId(id), false, JSON.stringify(id));
    }
  });
});

describe('compareStreamIds', () => {
  it('orders milliseconds numerically, not as text (9-0 before 10-0)', () => {
    assert.ok(compareStreamIds('9-0', '10-0') < 0);
    assert.ok(compareStreamIds('10-0', '9-0') > 0);
  });

  it('orders the sequence numerically within one millisecond (5-2 before 5-10)', () => {
    assert.ok(compareStreamIds('5-2', '5-10') < 0);
    assert.ok(compareStreamIds('5-10', '5-2') > 0);
  });

  it('puts a later millisecond after any sequence of an earlier one', () => {
    assert.ok(compareStreamIds('5-999', '6-0') < 0);
  });

  it('returns 0 for the same id', () => {
    assert.equal(compareStreamIds('1700000000000-3', '1700000000000-3'), 0);
  });

  it('sorts a list of ids into stream order', () => {
    const ids = ['10-0', '9-0', '5-10', '5-2', '100-1', '100-0'];
    assert.deepEqual([...ids].sort(compareStreamIds), ['5-2', '5-10', '9-0', '10-0', '100-0', '100-1']);
  });
});

describe('streamIdMs', () => {
  it('returns the millisecond part as a number', () => {
    assert.equal(streamIdMs('1700000000000-12'), 1700000000000);
    assert.equal(streamIdMs('0-5'), 0);
  });
});

describe('parseStreamId', () => {
  it('returns the two numbers of exactly the ids isStreamId accepts', () => {
    for (const id of ['0-0', '9-0', '1700000000000-12', '', '1', '1-', '-1', 'a-1', '1-b', '1-2-3', ' 1-2', '1-2 ', '1.5-2', '+1-2', '12345678901234567-1']) {
      const parts = parseStreamId(id);
      assert.equal(parts !== undefined, isStreamId(id), JSON.stringify(id));
      if (parts) assert.deepEqual(parts, { ms: streamIdMs(id), seq: Number(id.split('-')[1]) });
    }
  });

  it('orders parsed ids as compareStreamIds orders the text', () => {
    const ids = ['10-0', '9-0', '5-10', '5-2', '100-1', '100-0', '5-2'];
    for (const a of ids) {
      for (const b of ids) assert.equal(Math.sign(compareStreamIdParts(parseStreamId(a)!, parseStreamId(b)!)), Math.sign(compareStreamIds(a, b)), `${a} ${b}`);
    }
  });
});
