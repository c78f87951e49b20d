import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { entityOrderKey, entityOrderMember } from '../../shared/queue/entity-order.js';
import { stixIdOf } from '../../shared/opencti/stix-id.js';

describe('entityOrderMember', () => {
  it('sorts byte-wise in stream order, whatever the lengths of ms and seq', () => {
    const ids = ['9-0', '9-1', '9-10', '10-0', '10-2', '10-11', '99-100', '1739361234567-0', '1739361234567-9', '1739361234567-10', '17393612345670-0'];
    const members = ids.map((id, i) => entityOrderMember(id, `${id}-${String(i).padStart(16, '0')}`));
    const shuffled = [...members].reverse();
    assert.deepEqual(shuffled.sort(), members);
  });

  it('ignores leading zeros and ends with the job id', () => {
    assert.equal(entityOrderMember('009-01', 'j').split(':')[0], entityOrderMember('9-1', 'j').split(':')[0]);
    // The Lua scripts read the job id back as everything after the first colon.
    const member = entityOrderMember('1739361234567-3', '1739361234567-3-0123456789abcdef');
    assert.equal(member.slice(member.indexOf(':') + 1), '1739361234567-3-0123456789abcdef');
  });

  it('keys a line under the connector prefix, in its hash slot', () => {
    assert.equal(entityOrderKey('opencti-webhook:{c1}', 'malware--1'), 'opencti-webhook:{c1}:order:malware--1');
  });
});

describe('stixIdOf', () => {
  const envelope = (data: Record<string, unknown>, before: Record<string, unknown> = {}) =>
    JSON.stringify({ version: '4', type: 'update', scope: 'external', origin: { user_id: 'u' }, ...before, data, context: {} });

  it('reads data.id without parsing the body', () => {
    const parse = mock.method(JSON, 'parse');
    try {
      assert.equal(stixIdOf(envelope({ id: 'malware--21c45dbe-54ec-5bb7-b8cd-9f27cc518710', type: 'malware' })), 'malware--21c45dbe-54ec-5bb7-b8cd-9f27cc518710');
      assert.equal(parse.mock.callCount(), 0);
    } finally {
      parse.mock.restore();
    }
  });

  it('falls back to parsing for unusual ids or layouts, and is undefined without data.id', () => {
    assert.equal(stixIdOf('{"data": {"id": "Malware--X"}}'), 'Malware--X');
    assert.equal(stixIdOf(envelope({ id: 'malware--1' }, { origin: { data: { id: 'indicator--0' } } })), 'malware--1');
    assert.equal(stixIdOf(envelope({ id: 'x-custom--a\\"b', type: 'x' })), 'x-custom--a\\"b');
    assert.equal(stixIdOf(envelope({ type: 'malware', id: 'malware--2' })), 'malware--2');
    assert.equal(stixIdOf(envelope({ type: 'malware' })), undefined);
    assert.equal(stixIdOf('not json'), undefined);
    assert.equal(stixIdOf(envelope({ id: 'a'.repeat(600) })), undefined);
  });
});
