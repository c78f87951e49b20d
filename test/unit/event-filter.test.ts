import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { createEventFilter, stixTypeOf } from '../../shared/routing/event-filter.js';

const envelope = (data: Record<string, unknown>, before: Record<string, unknown> = {}) =>
  JSON.stringify({ version: '4', type: 'create', scope: 'external', message: 'creates a thing', origin: { user_id: 'u' }, ...before, data, context: {} });

describe('stixTypeOf', () => {
  it('reads the type from data.id without parsing the body', () => {
    const body = envelope({ id: 'indicator--8fd70ab3-511c-5910-beb3-985e808aeb97', type: 'indicator', pattern: '"data":{"id":"malware--x"' });
    const parse = mock.method(JSON, 'parse');
    try {
      assert.equal(stixTypeOf(body), 'indicator');
      assert.equal(stixTypeOf('{"data":{"id":"marking-definition--14bd4b27-0d40-5073-a2c6-bc3575d9d8d4","type":"marking-definition"}}'), 'marking-definition');
      assert.equal(parse.mock.callCount(), 0);
    } finally {
      parse.mock.restore();
    }
  });

  it('is not fooled by a nested "data" object or by text that looks like one', () => {
    const nested = envelope({ id: 'malware--1', type: 'malware' }, { origin: { user_metadata: { data: { id: 'indicator--2' } } } });
    assert.equal(stixTypeOf(nested), 'malware');
    const quoted = envelope({ type: 'report', id: 'report--3' }, { message: 'says \\"data\\":{\\"id\\":\\"indicator--4\\"' });
    assert.equal(stixTypeOf(quoted), 'report');
    const inString = `{"message":"${'\\"data\\":{\\"id\\":\\"indicator--5\\"'}","data":{"id":"vulnerability--6"}}`;
    assert.equal(stixTypeOf(inString), 'vulnerability');
  });

  it('falls back to parsing: data.id first, then data.type; undefined when there is neither', () => {
    assert.equal(stixTypeOf('{"data": {"id": "Attack-Pattern--7"}}'), 'attack-pattern');
    assert.equal(stixTypeOf('{"data":{"type":"Sighting","name":"x"}}'), 'sighting');
    assert.equal(stixTypeOf('{"data":{"name":"x"}}'), undefined);
    assert.equal(stixTypeOf('{"data":{"id":"indic'), undefined);
    assert.equal(stixTypeOf('not json'), undefined);
  });
});

describe('createEventFilter', () => {
  const indicator = envelope({ id: 'indicator--1' });
  const malware = envelope({ id: 'malware--1' });

  it('filters nothing, and costs nothing, when no list is set', () => {
    assert.equal(createEventFilter({}), undefined);
  });

  it('keeps only the listed event names', () => {
    const filter = createEventFilter({ eventTypes: ['create', 'delete'] })!;
    assert.equal(filter('create', indicator), undefined);
    assert.equal(filter('delete', indicator), undefined);
    assert.equal(filter('update', indicator), 'event_type');
    assert.equal(filter('merge', indicator), 'event_type');
  });

  it('keeps only the listed STIX types, and drops a body without a type', () => {
    const filter = createEventFilter({ entityTypes: ['indicator', 'relationship'] })!;
    assert.equal(filter('update', indicator), undefined);
    assert.equal(filter('update', envelope({ id: 'relationship--1' })), undefined);
    assert.equal(filter('update', malware), 'entity_type');
    assert.equal(filter('update', '{"data":{}}'), 'entity_type');
  });

  it('acknowledges events carrying an excluded marking with reason marking; an empty set filters nothing', () => {
    const red = 'marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed';
    const filter = createEventFilter({ excludedMarkings: new Set([red]) })!;
    assert.equal(filter('create', envelope({ id: 'indicator--1', object_marking_refs: [red] })), 'marking');
    assert.equal(filter('create', indicator), undefined);
    assert.equal(createEventFilter({ excludedMarkings: new Set() }), undefined);
    const both = createEventFilter({ entityTypes: ['indicator'], excludedMarkings: new Set([red]) })!;
    assert.equal(both('create', envelope({ id: 'malware--1', object_marking_refs: [red] })), 'entity_type');
  });

  it('checks the event name before the body', () => {
    const filter = createEventFilter({ eventTypes: ['create'], entityTypes: ['malware'] })!;
    assert.equal(filter('update', malware), 'event_type');
    assert.equal(filter('create', indicator), 'entity_type');
    assert.equal(filter('create', malware), undefined);
  });
});
