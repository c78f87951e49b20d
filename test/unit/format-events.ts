/**
 * Events for the format tests, in OpenCTI's real shapes (stix-fixtures.ts):
 * create (with built-in and custom markings), update with its patch, merge,
 * delete, relationship, and a sighting (built here: the factory makes none).
 */
import { buildFormat, type FormatSettings } from '../../dispatcher/formats/build.js';
import type { Format, OutgoingEvent } from '../../dispatcher/formats/format.js';
import { templateSource } from '../../dispatcher/formats/templates.js';
import { EventFactory, OCTI_EXT, type BuildSpec, type EntityKind, type EnvelopeType, type JsonObject } from '../helpers/stix-fixtures.js';
import { jsonataRunner } from '../helpers/template-runner.js';

export const OPENCTI_URL = 'https://opencti.example';
export const LIVE_STREAM_ID = 'live';
export const TLP_RED = 'marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed';
export const PAP_AMBER = 'marking-definition--a6f20d4d-0360-59b6-ba22-3b48707828b1';
/** A marking whose name is not known without asking OpenCTI: it stays an id. */
export const CUSTOM_MARKING = 'marking-definition--0b1c2d3e-4f50-5617-8a9b-0c1d2e3f4a5b';

export type SampleName = 'create' | 'update' | 'merge' | 'delete' | 'relationship' | 'sighting';

const START_MS = 1_739_361_240_001;

function spec(envelopeType: EnvelopeType, entityType?: EntityKind, size?: number): BuildSpec {
  return { envelopeType, freshDependencies: 0, sharedDependencyKeys: [], size, explicitSize: size !== undefined, inferred: false, entityType };
}

function outgoing(body: string, event: OutgoingEvent['event'], index: number): OutgoingEvent {
  return { webhookId: `msg_${index}`, event, streamId: `${START_MS + index * 1000}-${index}`, body };
}

/** Rewrites `data` of an envelope (JSON in, JSON out, key order kept). */
export function withData(body: string, change: (data: JsonObject) => void): string {
  const envelope = JSON.parse(body) as JsonObject;
  change(envelope['data'] as JsonObject);
  return JSON.stringify(envelope);
}

export function sampleEvents(): Record<SampleName, OutgoingEvent> {
  const factory = new EventFactory('formats');
  const at = (index: number) => START_MS + index * 1000;
  const create = withData(factory.build(0, at(0), spec('create', 'malware')).envelope, (data) => {
    data['object_marking_refs'] = [TLP_RED, PAP_AMBER, CUSTOM_MARKING];
  });
  const update = factory.build(1, at(1), spec('update')).envelope;
  const merge = factory.build(2, at(2), spec('merge')).envelope;
  const deleted = factory.build(3, at(3), spec('delete')).envelope;
  const relationship = factory.build(4, at(4), spec('create', 'relationship')).envelope;
  const sighting = JSON.stringify({
    version: '4',
    type: 'create',
    scope: 'external',
    message: 'creates a Stix-Sighting-Relationship `203.0.113.7 sighted in/at ACME Corp`',
    origin: { socket: 'query', user_id: '88ec0c6a-13ce-5e39-b486-354fe4a7084f' },
    data: {
      id: 'sighting--1d2c3b4a-5e6f-5a7b-8c9d-0e1f2a3b4c5d',
      spec_version: '2.1',
      type: 'sighting',
      extensions: {
        [OCTI_EXT]: {
          extension_type: 'property-extension',
          id: '5c1a7e42-9d3b-4f60-8a21-7e6d5c4b3a29',
          type: 'stix-sighting-relationship',
          sighting_of_value: '203.0.113.7',
          sighting_of_type: 'Indicator',
          where_sighted_values: ['ACME Corp'],
          where_sighted_types: ['Organization'],
        },
      },
      count: 3,
      sighting_of_ref: 'indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f',
      where_sighted_refs: ['identity--f431f809-377b-45e0-aa1c-6a4751cae5ff'],
      object_marking_refs: [TLP_RED],
    },
    event_id: `${at(5)}-0`,
  });
  return {
    create: outgoing(create, 'create', 0),
    update: outgoing(update, 'update', 1),
    merge: outgoing(merge, 'merge', 2),
    delete: outgoing(deleted, 'delete', 3),
    relationship: outgoing(relationship, 'create', 4),
    sighting: outgoing(sighting, 'create', 5),
  };
}

/** A create whose description is about `size` bytes. */
export function largeEvent(size: number): OutgoingEvent {
  return outgoing(new EventFactory('formats-large').build(0, START_MS, spec('create', 'malware', size)).envelope, 'create', 9);
}

/** The format as the dispatcher builds it, with the test runner standing in for the worker pool. */
export function testFormat(settings: Partial<FormatSettings> & Pick<FormatSettings, 'format'>): Format {
  const full: FormatSettings = { openctiUrl: OPENCTI_URL, liveStreamId: LIVE_STREAM_ID, ...settings };
  const source = templateSource(full.format, full.template);
  return buildFormat(full, source === undefined ? undefined : jsonataRunner(source));
}
