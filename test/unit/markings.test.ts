/**
 * shared/opencti/markings.ts on real event shapes (opencti-live-stream.md
 * §3.5, destination-formats.md §5): create, updates that add and remove a
 * marking (patch and reverse_patch as fast-json-patch compare writes them),
 * delete, merge, relationship, sighting.
 */
import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { createMarkingCheck, eventMarkings, markingIdOf, markingName, resolveMarkings } from '../../shared/opencti/markings.js';
import { OCTI_EXT, jsonPatchCompare, type JsonObject } from '../helpers/stix-fixtures.js';

const RED = 'marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed';
const GREEN = 'marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da';
const AMBER_STRICT = 'marking-definition--826578e1-40ad-459f-bc73-ede076f81f37';
const PAP_RED = 'marking-definition--4e4e3b84-de45-53df-9d9b-b21207699fd8';
const CUSTOM = markingIdOf('ACME:INTERNAL')!;

function object(markings: string[], extra: JsonObject = {}): JsonObject {
  const data: JsonObject = {
    id: 'malware--21c45dbe-54ec-5bb7-b8cd-9f27cc518710',
    spec_version: '2.1',
    type: 'malware',
    extensions: { [OCTI_EXT]: { extension_type: 'property-extension', id: 'e3867694-5b86-4e28-8f13-f803e06e23ec', type: 'Malware' } },
    name: 'Paradise Ransomware',
    ...extra,
  };
  if (markings.length > 0) data['object_marking_refs'] = markings; // absent when empty, as OpenCTI's cleanObject
  return data;
}

const envelope = (type: string, data: JsonObject, context?: JsonObject) =>
  JSON.stringify({ version: '4', type, scope: 'external', message: `${type}s a thing`, origin: { user_id: 'u' }, data, ...(context ? { context } : {}), event_id: '1-0' });

function update(before: JsonObject, after: JsonObject): string {
  return envelope('update', after, { patch: jsonPatchCompare(before, after), reverse_patch: jsonPatchCompare(after, before), changes: [] });
}

const relationship = (markings: string[]) =>
  object(markings, {
    id: 'relationship--4e3a5d53-0b6f-5f43-8f2c-8a4b5f1e2a11',
    type: 'relationship',
    relationship_type: 'uses',
    source_ref: 'malware--21c45dbe-54ec-5bb7-b8cd-9f27cc518710',
    target_ref: 'attack-pattern--3b2a1e1c-4c8f-5b7e-9a1f-0c2d3e4f5a6b',
    extensions: {
      [OCTI_EXT]: {
        extension_type: 'property-extension',
        id: '7a1b2c3d-0000-4000-8000-000000000001',
        type: 'uses',
        // Internal ids of the ends' markings: never standard ids.
        source_ref_object_marking_refs: ['9f1e2d3c-0000-4000-8000-000000000002'],
        target_ref_object_marking_refs: ['9f1e2d3c-0000-4000-8000-000000000003'],
      },
    },
  });

describe('markingName', () => {
  it('names the built-in TLP (CLEAR for the id WHITE shares) and PAP ids, and leaves any other id as it is', () => {
    assert.equal(markingName(RED), 'TLP:RED');
    assert.equal(markingName(AMBER_STRICT.toUpperCase().replace('MARKING-DEFINITION', 'marking-definition')), 'TLP:AMBER+STRICT');
    assert.equal(markingName(markingIdOf('TLP:WHITE')!), 'TLP:CLEAR');
    assert.equal(markingName(PAP_RED), 'PAP:RED');
    assert.equal(markingName(CUSTOM), CUSTOM);
  });
});

describe('markingIdOf / resolveMarkings', () => {
  it('gives the ids of the reference table: built-in TLP (WHITE = CLEAR, AMBER+STRICT) and PAP computed with uuidv5', () => {
    assert.equal(markingIdOf('tlp:red'), RED);
    assert.equal(markingIdOf('TLP:AMBER+STRICT'), AMBER_STRICT);
    assert.equal(markingIdOf('tlp:white'), markingIdOf('TLP:CLEAR'));
    assert.equal(markingIdOf('TLP:CLEAR'), 'marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9');
    assert.equal(markingIdOf('pap:red'), PAP_RED);
    assert.equal(markingIdOf('PAP:CLEAR'), 'marking-definition--4cdff7eb-acb8-543f-8573-829eb9fe8b34');
    assert.equal(markingIdOf('PAP:GREEN'), 'marking-definition--89484dde-e3d2-547f-a6c6-d14824429eb1');
    assert.equal(markingIdOf('PAP:AMBER'), 'marking-definition--a6f20d4d-0360-59b6-ba22-3b48707828b1');
    assert.match(CUSTOM, /^marking-definition--[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(markingIdOf('acme:internal'), CUSTOM);
  });

  it('takes ids as given and refuses anything else, naming the setting', () => {
    assert.equal(markingIdOf(RED.toUpperCase().replace('MARKING-DEFINITION', 'marking-definition')), RED);
    for (const bad of ['RED', 'tlp red', 'marking-definition--nope', ':RED', 'TLP:']) assert.equal(markingIdOf(bad), undefined, bad);
    assert.deepEqual([...resolveMarkings(['tlp:red', PAP_RED], 'WEBHOOK_MARKINGS_EXCLUDE')], [RED, PAP_RED]);
    assert.throws(() => resolveMarkings(['tlp:red', 'red'], 'WEBHOOK_MARKINGS_EXCLUDE'), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'OWH_CONFIG');
      assert.match(error.message, /WEBHOOK_MARKINGS_EXCLUDE holds "red": it accepts .*TYPE:VALUE.*marking-definition--<uuid>/);
      return true;
    });
  });
});

describe('eventMarkings / createMarkingCheck on event shapes', () => {
  const excluded = createMarkingCheck(resolveMarkings(['TLP:RED', 'TLP:AMBER+STRICT', 'PAP:RED', 'ACME:INTERNAL'], 'WEBHOOK_MARKINGS_EXCLUDE'));

  it('create: the object\'s own markings', () => {
    assert.equal(excluded(envelope('create', object([GREEN, RED]))), true);
    assert.equal(excluded(envelope('create', object([GREEN]))), false);
    assert.equal(excluded(envelope('create', object([]))), false);
    assert.equal(excluded(envelope('create', object([AMBER_STRICT]))), true);
    assert.equal(excluded(envelope('create', object([PAP_RED]))), true);
    assert.equal(excluded(envelope('create', object([CUSTOM]))), true);
  });

  it('update adding TLP:RED (patch), from none and from [GREEN]', () => {
    assert.equal(excluded(update(object([]), object([RED]))), true);
    assert.equal(excluded(update(object([GREEN]), object([GREEN, RED]))), true);
  });

  it('update removing TLP:RED: the object carried it before (reverse_patch), so the event is kept in', () => {
    const removedAll = update(object([RED]), object([]));
    assert.deepEqual(eventMarkings(removedAll), new Set([RED]));
    assert.equal(excluded(removedAll), true);
    const removedOne = update(object([GREEN, RED]), object([RED]));
    assert.equal(excluded(update(object([GREEN, RED]), object([GREEN]))), true);
    assert.equal(excluded(removedOne), true);
    assert.equal(excluded(update(object([GREEN]), object([]))), false);
  });

  it('delete: the object as it was', () => {
    assert.equal(excluded(envelope('delete', object([RED]))), true);
    assert.equal(excluded(envelope('delete', object([GREEN]))), false);
  });

  it('merge: the target now and before, and the absorbed sources the event carries', () => {
    const target = object([GREEN]);
    const source = object([RED], { id: 'malware--0b1c2d3e-4f50-5a6b-8c7d-9e0f1a2b3c4d', name: 'Paradise' });
    const merged = envelope('merge', target, { patch: [], reverse_patch: [], sources: [source] });
    assert.equal(excluded(merged), true);
    assert.equal(excluded(envelope('merge', target, { patch: [], reverse_patch: [], sources: [object([GREEN])] })), false);
  });

  it('relationship and sighting: their own markings only, never the extension\'s internal ids', () => {
    assert.equal(excluded(envelope('create', relationship([RED]))), true);
    assert.equal(excluded(envelope('create', relationship([GREEN]))), false);
    const sighting = object([PAP_RED], { id: 'sighting--1d2c3b4a-5e6f-5a7b-8c9d-0e1f2a3b4c5d', type: 'sighting', sighting_of_ref: 'indicator--x', where_sighted_refs: ['identity--y'] });
    assert.equal(excluded(envelope('create', sighting)), true);
    assert.equal(excluded(envelope('create', { ...sighting, object_marking_refs: [GREEN] })), false);
  });

  it('the marking-definition object itself is not marked by it, and a body naming an id elsewhere is parsed, not excluded', () => {
    const definition = { id: RED, type: 'marking-definition', definition_type: 'TLP', name: 'TLP:RED' };
    assert.equal(excluded(envelope('create', definition)), false);
    assert.equal(excluded(envelope('create', object([GREEN], { description: `see ${RED}` }))), false);
  });

  it('parses only bodies that contain an excluded id; an unparseable one that does is kept in', () => {
    const parse = mock.method(JSON, 'parse');
    try {
      assert.equal(excluded(envelope('create', object([GREEN]))), false);
      assert.equal(parse.mock.callCount(), 0);
    } finally {
      parse.mock.restore();
    }
    assert.equal(excluded(`{"data":{"object_marking_refs":["${RED}"]`), true);
  });
});
