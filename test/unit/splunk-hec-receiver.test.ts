/**
 * The Splunk HEC stand-in (test/helpers/splunk-hec-receiver.ts) answers as
 * HEC does (destination-formats.md §4): without it, the splunk-hec format's
 * tests would check nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startSplunkHecReceiver, type SplunkHecReceiver } from '../helpers/splunk-hec-receiver.js';

const TOKEN = '5b7e0a5c-7d8e-4c1a-9b36-0e4b1c2d3f40';

describe('the Splunk HEC receiver', () => {
  let hec: SplunkHecReceiver;
  before(async () => (hec = await startSplunkHecReceiver(TOKEN)));
  after(() => hec.close());

  /** `authorization` null: no header at all. */
  const post = async (body: string, authorization: string | null = `Splunk ${TOKEN}`) => {
    const response = await fetch(hec.url, { method: 'POST', body, headers: authorization === null ? {} : { authorization } });
    return { status: response.status, body: (await response.json()) as { text: string; code: number; 'invalid-event-number'?: number } };
  };

  it('accepts envelopes, alone or concatenated, and keeps their events', async () => {
    assert.deepEqual(await post('{"time":1739361240.001,"host":"h","source":"s","sourcetype":"t","event":{"a":1}}'), { status: 200, body: { text: 'Success', code: 0 } });
    assert.deepEqual(await post('{"event":"x"} {"event":{"b":"}{"},"fields":{"k":["v"]}}'), { status: 200, body: { text: 'Success', code: 0 } });
    assert.deepEqual(hec.events.map((envelope) => envelope.event), [{ a: 1 }, 'x', { b: '}{' }]);
  });

  it('refuses a missing, malformed or wrong token with codes 2, 3 and 4', async () => {
    const before = hec.events.length;
    assert.deepEqual(await post('{"event":1}', null), { status: 401, body: { text: 'Token is required', code: 2 } });
    assert.deepEqual(await post('{"event":1}', `Bearer ${TOKEN}`), { status: 401, body: { text: 'Invalid authorization', code: 3 } });
    assert.deepEqual(await post('{"event":1}', 'Splunk nope'), { status: 403, body: { text: 'Invalid token', code: 4 } });
    assert.equal(hec.events.length, before);
  });

  it('refuses a bad envelope with code 6 (array, not JSON, time in ms or ISO), and an envelope without event with 12', async () => {
    const before = hec.events.length;
    for (const body of ['[{"event":1}]', '{"event":1},{"event":2}', '{"event":', '{"time":1739361240001,"event":1}', '{"time":"2025-02-12T11:54:00Z","event":1}', '{"host":3,"event":1}']) {
      assert.equal((await post(body)).body.code, 6, body);
    }
    assert.deepEqual(await post('{"event":1}{"time":1}'), { status: 400, body: { text: 'Event field is required', code: 12, 'invalid-event-number': 1 } });
    assert.equal((await post('{"event":""}')).body.code, 13);
    assert.equal((await post('{"event":1,"fields":{"nested":{"a":"b"}}}')).body.code, 15);
    assert.deepEqual(await post(''), { status: 400, body: { text: 'No data', code: 5 } });
    assert.equal(hec.events.length, before, 'a refused request indexes nothing');
  });
});
