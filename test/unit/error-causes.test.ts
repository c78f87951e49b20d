import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { causeChain, innermostError, MAX_CAUSE_DEPTH } from '../../shared/errors/causes.js';

describe('causeChain', () => {
  it('follows cause from the outermost error in', () => {
    const socket = Object.assign(new Error('self-signed certificate'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    const connect = new Error('connect failed', { cause: socket });
    const fetch = new TypeError('fetch failed', { cause: connect });
    assert.deepEqual(causeChain(fetch), [fetch, connect, socket]);
  });

  it("follows an AggregateError's first member (one attempt per address)", () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED ::1:443'), { code: 'ECONNREFUSED' });
    const all = new AggregateError([refused, new Error('connect ECONNREFUSED 127.0.0.1:443')]);
    assert.deepEqual(causeChain(new TypeError('fetch failed', { cause: all })).slice(1), [all, refused]);
  });

  it('prefers the cause of an AggregateError that has one', () => {
    const cause = new Error('cause');
    const aggregate = new AggregateError([new Error('member')], 'both', { cause });
    assert.equal(causeChain(aggregate)[1], cause);
  });

  it('ends at a cause that is not an object, keeping it', () => {
    const error = new Error('x', { cause: 'a reason in words' });
    assert.deepEqual(causeChain(error), [error, 'a reason in words']);
    assert.deepEqual(causeChain('not an error'), ['not an error']);
    assert.deepEqual(causeChain(null), [null]);
  });

  it('stops after MAX_CAUSE_DEPTH steps, so a cycle ends', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    a.cause = b;
    assert.equal(causeChain(a).length, MAX_CAUSE_DEPTH + 1);
  });
});

describe('innermostError', () => {
  it('is the last Error of the chain, or the value itself', () => {
    const inner = new Error('inner');
    assert.equal(innermostError(new Error('outer', { cause: new Error('middle', { cause: inner }) })), inner);
    const withWords = new Error('outer', { cause: 'words' });
    assert.equal(innermostError(withWords), withWords);
    assert.equal(innermostError('text'), 'text');
  });
});
