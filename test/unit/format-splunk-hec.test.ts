/**
 * FORMAT=splunk-hec: one HEC envelope per event, time in epoch seconds,
 * the stream event as `event`, what happened in indexed `fields`; accepted
 * by a receiver that answers like HEC (destination-formats.md §4).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { checkHecBody, startSplunkHecReceiver, type SplunkHecReceiver } from '../helpers/splunk-hec-receiver.js';
import { LIVE_STREAM_ID, OPENCTI_URL, largeEvent, sampleEvents, testFormat } from './format-events.js';

const TOKEN = '0f5d2e1c-8b7a-4c3d-9e2f-1a0b9c8d7e6f';
const format = testFormat({ format: 'splunk-hec' });

describe('the splunk-hec format', () => {
  let hec: SplunkHecReceiver;
  before(async () => (hec = await startSplunkHecReceiver(TOKEN)));
  after(() => hec.close());

  it('is accepted by HEC for every shape (and a 100 KB event), with time in seconds and the stream event as event', async () => {
    const events = { ...sampleEvents(), large: largeEvent(100_000) };
    for (const [sample, event] of Object.entries(events)) {
      const { body, headers } = await format.format(event);
      assert.deepEqual(headers, {});
      const response = await fetch(hec.url, { method: 'POST', body, headers: { authorization: `Splunk ${TOKEN}`, 'content-type': 'application/json' } });
      assert.deepEqual(await response.json(), { text: 'Success', code: 0 }, sample);
      const envelope = hec.events.at(-1)!;
      assert.equal(envelope.time, Number(event.streamId.split('-')[0]) / 1000, sample);
      assert.equal(envelope.host, new URL(OPENCTI_URL).hostname);
      assert.equal(envelope.source, `opencti:${LIVE_STREAM_ID}`);
      assert.equal(envelope.sourcetype, 'opencti:stream');
      assert.deepEqual(envelope.event, JSON.parse(event.body), sample);
    }
    assert.equal(hec.events.length, Object.keys(events).length);
  });

  it('says in its indexed fields what happened, to what and by whom, with marking names and a link', async () => {
    const { create, sighting } = sampleEvents();
    const { envelopes } = checkHecBody((await format.format(create)).body);
    const data = (JSON.parse(create.body) as { data: { id: string; name: string; extensions: Record<string, { id: string }> } }).data;
    assert.deepEqual(envelopes[0]!.fields, {
      opencti_event: 'create',
      entity_type: 'Malware',
      name: data.name,
      markings: ['TLP:RED', 'PAP:AMBER', 'marking-definition--0b1c2d3e-4f50-5617-8a9b-0c1d2e3f4a5b'],
      message: `creates a Malware \`${data.name}\``,
      user_id: '88ec0c6a-13ce-5e39-b486-354fe4a7084f',
      stix_id: data.id,
      link: `${OPENCTI_URL}/dashboard/id/${Object.values(data.extensions)[0]!.id}`,
    });
    // One marking stays a list: HEC takes a string list, and searches expect the same type every time.
    const fields = checkHecBody((await format.format(sighting)).body).envelopes[0]!.fields!;
    assert.deepEqual(fields['markings'], ['TLP:RED']);
    assert.equal(fields['name'], '203.0.113.7 sighted in/at ACME Corp');
  });
});
