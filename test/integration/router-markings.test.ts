/**
 * MARKINGS_EXCLUDE per destination, on OpenCTI's real event shapes
 * (opencti-live-stream.md, destination-formats.md §5): the ingester's Router
 * with two destinations read from the configuration, `teams` excluding
 * TLP:RED by name and `soar` excluding nothing. Oracle: teams never gets an
 * event whose object carries TLP:RED now, got it in this update, or had it
 * before this update (reverse_patch), nor a delete, merge, relationship or
 * sighting marked red; soar gets every event. Router.route only decides,
 * it never writes: the queues are stand-ins and no Redis runs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Queue } from 'bullmq';
import { loadIngesterConfig } from '../../ingester/config.js';
import type { PendingEvent } from '../../ingester/commit/job-packing.js';
import { Router, type Route } from '../../ingester/routing/router.js';
import { routeOf } from '../../ingester/routing/routes.js';
import { createLogger } from '../../shared/observability/logger.js';
import type { ForwardedEvent } from '../../shared/queue/contract.js';
import type { FilterReason } from '../../shared/routing/event-filter.js';
import { EventFactory, jsonPatchCompare, type BuildSpec, type EntityKind, type EnvelopeType, type JsonObject } from '../helpers/stix-fixtures.js';
import { INGESTER_ENV, tempDir } from '../unit/config-helpers.js';
import { sampleEvents } from '../unit/format-events.js';

/** OpenCTI's standard ids of the built-in TLP markings (identifier.js STATIC_STANDARD_IDS). */
const RED = 'marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed';
const GREEN = 'marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da';
const AMBER = 'marking-definition--f88d31f6-486f-44da-b317-01333bde0b82';

const START_MS = 1_739_361_240_001;
const spec = (envelopeType: EnvelopeType, entityType?: EntityKind): BuildSpec => ({
  envelopeType,
  freshDependencies: 0,
  sharedDependencyKeys: [],
  size: undefined,
  explicitSize: false,
  inferred: false,
  entityType,
});

type Envelope = JsonObject & { data: JsonObject; context?: JsonObject };
const parse = (body: string) => JSON.parse(body) as Envelope;

/** Sets the object's markings as OpenCTI writes them: absent when there are none. */
function marked(data: JsonObject, markings: readonly string[]): JsonObject {
  const copy = structuredClone(data);
  delete copy['object_marking_refs'];
  if (markings.length > 0) copy['object_marking_refs'] = [...markings];
  return copy;
}

/** An update of `data` from `before` markings to `after` ones, with patch and reverse_patch as fast-json-patch compare writes them. */
function markingUpdate(create: string, before: readonly string[], after: readonly string[], otherChange = false): string {
  const envelope = parse(create);
  const previous = marked(envelope.data, before);
  const next = marked(envelope.data, after);
  if (otherChange) next['confidence'] = 85;
  return JSON.stringify({
    ...envelope,
    type: 'update',
    message: 'updates a thing',
    data: next,
    context: { patch: jsonPatchCompare(previous, next), reverse_patch: jsonPatchCompare(next, previous), changes: [] },
  });
}

const withMarkings = (body: string, markings: readonly string[]): string => {
  const envelope = parse(body);
  return JSON.stringify({ ...envelope, data: marked(envelope.data, markings) });
};

interface Case {
  name: string;
  event: ForwardedEvent;
  body: string;
  /** Whether the TLP:RED-excluding destination may get it. */
  red: boolean;
}

/** Real-shaped events, each saying whether it carries TLP:RED now or before its update. */
function cases(): Case[] {
  const factory = new EventFactory('router-markings');
  let index = 0;
  const build = (type: EnvelopeType, kind?: EntityKind) => factory.build(index, START_MS + 1000 * index++, spec(type, kind)).envelope;
  const create = build('create', 'malware');
  const createdRelationship = build('create', 'relationship');
  const merge = parse(build('merge', 'malware'));
  assert.ok(Array.isArray(merge.context?.['sources']) && merge.context['sources'].length > 0, 'the merge has absorbed objects');
  const mergeWithRedSource = (() => {
    const sources = (merge.context['sources'] as JsonObject[]).map((source, i) => (i === 0 ? marked(source, [RED]) : source));
    return JSON.stringify({ ...merge, context: { ...merge.context, sources } });
  })();
  const deleted = build('delete', 'indicator');
  const samples = sampleEvents();
  const redRelationship = (() => {
    const envelope = parse(createdRelationship);
    return JSON.stringify({ ...envelope, data: marked(envelope.data, [RED]) });
  })();
  // Only the relationship's ends are red: it counts by its own markings (docs/security.md).
  const relationshipToRed = (() => {
    const envelope = parse(createdRelationship);
    const data = marked(envelope.data, [GREEN]);
    const extension = Object.values(data['extensions'] as JsonObject)[0] as JsonObject;
    extension['source_ref_object_marking_refs'] = ['a1b2c3d4-0000-4000-8000-000000000001'];
    return JSON.stringify({ ...envelope, data });
  })();
  // The red id in free text is not a marking.
  const mentionsRed = (() => {
    const envelope = parse(create);
    return JSON.stringify({ ...envelope, data: { ...marked(envelope.data, [AMBER]), description: `see ${RED}` } });
  })();
  return [
    { name: 'create, TLP:RED', event: 'create', body: withMarkings(create, [RED]), red: true },
    { name: 'create, TLP:GREEN and TLP:RED', event: 'create', body: withMarkings(create, [GREEN, RED]), red: true },
    { name: 'create, TLP:GREEN', event: 'create', body: withMarkings(create, [GREEN]), red: false },
    { name: 'create, unmarked', event: 'create', body: withMarkings(create, []), red: false },
    { name: 'create, TLP:AMBER, the red id in the description', event: 'create', body: mentionsRed, red: false },
    { name: 'update adding TLP:RED to an unmarked object', event: 'update', body: markingUpdate(create, [], [RED]), red: true },
    { name: 'update adding TLP:RED after TLP:GREEN', event: 'update', body: markingUpdate(create, [GREEN], [GREEN, RED]), red: true },
    { name: 'update replacing TLP:GREEN with TLP:RED', event: 'update', body: markingUpdate(create, [GREEN], [RED]), red: true },
    { name: 'update of a red object that changes something else', event: 'update', body: markingUpdate(create, [RED], [RED], true), red: true },
    { name: 'update removing TLP:RED, the only marking', event: 'update', body: markingUpdate(create, [RED], []), red: true },
    { name: 'update removing TLP:RED, TLP:GREEN kept', event: 'update', body: markingUpdate(create, [GREEN, RED], [GREEN]), red: true },
    { name: 'update replacing TLP:RED with TLP:GREEN', event: 'update', body: markingUpdate(create, [RED], [GREEN]), red: true },
    { name: 'update adding TLP:GREEN', event: 'update', body: markingUpdate(create, [], [GREEN]), red: false },
    { name: 'update removing TLP:AMBER', event: 'update', body: markingUpdate(create, [AMBER, GREEN], [GREEN]), red: false },
    { name: 'delete of a red object', event: 'delete', body: withMarkings(deleted, [RED]), red: true },
    { name: 'delete of a green object', event: 'delete', body: withMarkings(deleted, [GREEN]), red: false },
    { name: 'merge into a red object', event: 'merge', body: withMarkings(JSON.stringify(merge), [RED]), red: true },
    { name: 'merge absorbing a red object', event: 'merge', body: mergeWithRedSource, red: true },
    { name: 'merge, nothing red', event: 'merge', body: JSON.stringify(merge), red: false },
    { name: 'relationship, TLP:RED', event: 'create', body: redRelationship, red: true },
    { name: 'relationship, TLP:GREEN, between red ends', event: 'create', body: relationshipToRed, red: false },
    { name: 'sighting, TLP:RED', event: 'create', body: samples.sighting.body, red: true },
    { name: 'sighting, unmarked', event: 'create', body: withMarkings(samples.sighting.body, []), red: false },
  ];
}

/** The ingester's routes as ingester/routing/routes.ts builds them from the configuration, with stand-in queues. */
function routesFrom(env: Record<string, string>): Route[] {
  const files = tempDir();
  try {
    const config = loadIngesterConfig({ env: { ...INGESTER_ENV, ...env }, file: files.write('empty.yml', '') });
    return config.destinations.map((destination) => routeOf(destination, {} as Queue, `test:${destination.name}`));
  } finally {
    files.cleanup();
  }
}

describe('MARKINGS_EXCLUDE per destination, on real event shapes', () => {
  it('keeps every event carrying TLP:RED, now or before its update, away from the destination that excludes it, and only from it', async () => {
    const all = cases();
    assert.ok(all.some(({ red }) => red) && all.some(({ red }) => !red));
    const routes = routesFrom({ DESTINATIONS: 'teams,soar', DESTINATION_TEAMS_MARKINGS_EXCLUDE: 'TLP:RED' });
    const filtered: Array<[string, FilterReason, number]> = [];
    const router = new Router({ routes, onFiltered: (...args) => filtered.push(args), logger: createLogger('test', 'error') });
    const batch: PendingEvent[] = all.map(({ event, body }, i) => ({ eventId: `${START_MS + i}-0`, job: { event, streamId: `${START_MS + i}-0`, body, receivedAt: Date.now() } }));

    const routed = await router.route(batch);
    const names = (destination: string) => {
      const found = routed.find(({ route }) => route.name === destination);
      assert.ok(found, destination);
      return found.events.map(({ eventId }) => all[batch.findIndex((event) => event.eventId === eventId)]!.name);
    };
    assert.deepEqual(names('soar'), all.map(({ name }) => name), 'the destination without exclusion gets every event');
    assert.deepEqual(names('teams'), all.filter(({ red }) => !red).map(({ name }) => name));
    assert.deepEqual(filtered, [['teams', 'marking', all.filter(({ red }) => red).length]]);
    // Taken events are queued as they came.
    for (const { events } of routed) for (const event of events) assert.equal(event, batch.find(({ eventId }) => eventId === event.eventId));
  });

  it('takes the same events whether TLP:RED is given by name, in any case, or by id', async () => {
    const batch: PendingEvent[] = cases().map(({ event, body }, i) => ({ eventId: `${i}-0`, job: { event, streamId: `${i}-0`, body, receivedAt: 0 } }));
    const taken = async (exclude: string) => {
      const routes = routesFrom({ DESTINATIONS: 'teams', DESTINATION_TEAMS_MARKINGS_EXCLUDE: exclude });
      const [only] = await new Router({ routes, onFiltered: () => undefined, logger: createLogger('test', 'error') }).route(batch);
      return only!.events.map(({ eventId }) => eventId);
    };
    const byName = await taken('TLP:RED');
    assert.ok(byName.length < batch.length);
    assert.deepEqual(await taken('tlp:red'), byName);
    assert.deepEqual(await taken(RED), byName);
    assert.deepEqual(await taken(`TLP:AMBER+STRICT, ${RED.toUpperCase().replace('MARKING-DEFINITION', 'marking-definition')}`), byName);
  });
});
