import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { classifyFrame, eventId } from '../../ingester/stream/frame.js';

const BODY = '{"type":"create","data":{"id":"indicator--1"}}';

describe('classifyFrame', () => {
  it('recognises the connected frame, with or without an id', () => {
    assert.deepEqual(classifyFrame({ event: 'connected', id: '', data: '{"x":1}' }), { kind: 'connected', data: '{"x":1}' });
    assert.equal(classifyFrame({ event: 'connected', id: '5-0', data: '{}' }).kind, 'connected');
  });

  it('ignores a frame without an id', () => {
    assert.deepEqual(classifyFrame({ event: 'create', id: '', data: BODY }), { kind: 'ignored', reason: 'no-id', event: 'create' });
  });

  it('reports a frame whose id is not <ms>-<seq> as malformed', () => {
    for (const id of ['abc', '1', '1-2-3']) {
      const frame = classifyFrame({ event: 'create', id, data: BODY });
      assert.equal(frame.kind, 'malformed', id);
      assert.equal(frame.kind === 'malformed' && frame.id, id);
    }
  });

  it('turns a heartbeat into a position-only frame', () => {
    assert.deepEqual(classifyFrame({ event: 'heartbeat', id: '7-1', data: '' }), { kind: 'heartbeat', streamId: '7-1', at: { ms: 7, seq: 1 } });
  });

  it('forwards create, update, delete and merge as events of that name', () => {
    for (const event of ['create', 'update', 'delete', 'merge']) {
      assert.deepEqual(classifyFrame({ event, id: '7-1', data: BODY }), { kind: 'event', event, streamId: '7-1', at: { ms: 7, seq: 1 }, data: BODY });
    }
  });

  it('dispatches on the SSE event name, not on the envelope type', () => {
    const frame = classifyFrame({ event: 'create', id: '7-1', data: '{"type":"update","data":{}}' });
    assert.equal(frame.kind, 'event');
    assert.equal(frame.kind === 'event' && frame.event, 'create');
  });

  it('does not forward unknown event names', () => {
    for (const event of ['something-new', 'CREATE', 'message']) {
      assert.deepEqual(classifyFrame({ event, id: '7-1', data: '{}' }), { kind: 'ignored', reason: 'not-data', event }, event);
    }
  });

  it('sets consumer_metrics, no-recover and error apart as platform frames, with or without an id', () => {
    for (const event of ['consumer_metrics', 'no-recover', 'error']) {
      for (const id of ['7-1', '']) {
        assert.deepEqual(classifyFrame({ event, id, data: '{"a":1}' }), { kind: 'platform', event, data: '{"a":1}' }, `${event} ${id}`);
      }
    }
  });

  it('reports event data that is not a JSON object as malformed', () => {
    for (const data of ['', '{', '{"truncated":', '[1]', 'null', '"text"', '42']) {
      const frame = classifyFrame({ event: 'create', id: '7-1', data });
      assert.equal(frame.kind, 'malformed', JSON.stringify(data));
    }
  });
});

describe('eventId', () => {
  it('is stable for the same event, id and data', () => {
    assert.equal(eventId('create', '7-1', BODY), eventId('create', '7-1', BODY));
  });

  it('differs for a different body under the same SSE id (dependency frames)', () => {
    assert.notEqual(eventId('create', '7-1', BODY), eventId('create', '7-1', '{"type":"create","data":{"id":"malware--2"}}'));
  });

  it('differs for a different event name with the same body', () => {
    assert.notEqual(eventId('create', '7-1', BODY), eventId('update', '7-1', BODY));
  });

  it('changes with each state reset (generation), and generation 0 keeps the ids of before', () => {
    assert.equal(eventId('create', '7-1', BODY, 0), eventId('create', '7-1', BODY));
    const ids = new Set([0, 1, 2].map((generation) => eventId('create', '7-1', BODY, generation)));
    assert.equal(ids.size, 3);
    assert.equal(eventId('create', '7-1', BODY, 2), eventId('create', '7-1', BODY, 2));
  });

  it('has the form <ms>-<seq>-<16 hex> without "." or ":"', () => {
    const id = eventId('create', '1700000000000-3', BODY);
    assert.match(id, /^1700000000000-3-[0-9a-f]{16}$/);
    assert.doesNotMatch(id, /[.:]/);
  });
});
