import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { eventDataView, eventTitle } from '../../dispatcher/board/view.js';

const OCTI = 'extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba';

function job(event: string, stix: Record<string, unknown>) {
  const body = JSON.stringify({ version: '4', type: event, message: 'm', data: stix });
  return { name: event, data: { event, streamId: '1739361240001-0', body, receivedAt: 1739361240500 } };
}

describe('board title of an event', () => {
  it('names the event, the OpenCTI entity type and the entity', () => {
    const title = eventTitle(job('create', { type: 'malware', name: 'Paradise Ransomware', extensions: { [OCTI]: { type: 'Malware' } } }));
    assert.equal(title, 'create · Malware · Paradise Ransomware');
  });

  it('describes a relationship by its ends and type', () => {
    const stix = { type: 'relationship', relationship_type: 'uses', source_ref: 'malware--1', target_ref: 'attack-pattern--2', extensions: { [OCTI]: { type: 'uses', source_value: 'Emotet', target_value: 'Phishing' } } };
    assert.equal(eventTitle(job('update', stix)), 'update · uses · Emotet uses Phishing');
  });

  it('falls back to the STIX type and the observable value, then the id', () => {
    assert.equal(eventTitle(job('delete', { type: 'ipv4-addr', value: '203.0.113.7' })), 'delete · ipv4-addr · 203.0.113.7');
    assert.equal(eventTitle(job('merge', { type: 'identity', id: 'identity--9' })), 'merge · identity · identity--9');
  });

  it('shows the event name alone when the body is not an OpenCTI envelope, and never throws', () => {
    assert.equal(eventTitle({ name: 'create', data: { event: 'create', body: '{"truncated' } }), 'create');
    assert.equal(eventTitle({ name: 'x', data: 'not an object' }), 'x');
    assert.equal(eventTitle({}), '');
  });

  it('is cut to a readable length', () => {
    const title = eventTitle(job('create', { type: 'report', name: 'n'.repeat(500) }));
    assert.ok(title.length <= 140 && title.endsWith('…'), title);
  });
});

describe('board view of the job data', () => {
  it('shows the body as JSON and the receipt time as ISO, and leaves the stored job untouched', () => {
    const data = job('create', { type: 'malware', name: 'X' }).data;
    const view = eventDataView(data) as Record<string, unknown>;
    assert.deepEqual(view.body, JSON.parse(data.body));
    assert.equal(view.receivedAt, '2025-02-12T11:54:00.500Z');
    assert.equal(typeof data.body, 'string');
  });

  it('keeps a body that is not JSON as the string it is', () => {
    assert.equal((eventDataView({ body: 'oops', receivedAt: 0 }) as { body: unknown }).body, 'oops');
  });
});

describe('board view of a pack', () => {
  const first = job('create', { type: 'malware', name: 'Paradise Ransomware', extensions: { [OCTI]: { type: 'Malware' } } }).data;
  const second = job('delete', { type: 'ipv4-addr', value: '203.0.113.7' }).data;
  const pack = { name: 'pack', data: { events: [{ id: 'a', ...first }, { id: 'b', ...second }] } };

  it('titles it with its size and its first event', () => {
    assert.equal(eventTitle(pack), 'pack of 2 events: create · Malware · Paradise Ransomware');
  });

  it('shows every event with its id, its body as JSON and its receipt time as ISO', () => {
    const view = eventDataView(pack.data) as { events: Array<Record<string, unknown>> };
    assert.deepEqual(view.events.map((e) => e.id), ['a', 'b']);
    assert.deepEqual(view.events[1]!.body, JSON.parse(second.body));
    assert.equal(view.events[0]!.receivedAt, '2025-02-12T11:54:00.500Z');
  });
});
