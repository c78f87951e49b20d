/**
 * FORMAT=cloudevents, read back by the official CloudEvents SDK: binary
 * mode, the body untouched, the attributes in percent-encoded `ce-` headers
 * (destination-formats.md §1).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { HTTP, type CloudEvent } from 'cloudevents';
import { percentEncode } from '../../dispatcher/formats/cloudevents.js';
import type { FormattedRequest } from '../../dispatcher/formats/format.js';
import { LIVE_STREAM_ID, OPENCTI_URL, sampleEvents, testFormat, withData } from './format-events.js';

const format = testFormat({ format: 'cloudevents' });

function parsed(request: FormattedRequest): CloudEvent {
  const event = HTTP.toEvent({ headers: request.headers, body: request.body });
  assert.ok(!Array.isArray(event), 'one event, not a batch');
  return event as CloudEvent;
}

describe('the cloudevents format', () => {
  it('gives the SDK a valid event for every shape, with our id, source, type, subject and time, and the body byte for byte', async () => {
    for (const [sample, event] of Object.entries(sampleEvents())) {
      const request = await format.format(event);
      assert.equal(request.body, event.body, sample);
      const cloudEvent = parsed(request);
      cloudEvent.validate();
      const data = (JSON.parse(event.body) as { data: { id: string } }).data;
      assert.equal(cloudEvent.specversion, '1.0');
      assert.equal(cloudEvent.id, event.webhookId, sample);
      assert.equal(cloudEvent.source, `${OPENCTI_URL}/stream/${LIVE_STREAM_ID}`);
      assert.equal(cloudEvent.type, `io.opencti.stream.${event.event}`, sample);
      assert.equal(cloudEvent.subject, data.id, sample);
      // The SDK puts its own clock in `time` when the header is missing or wrong: read the header too.
      const expectedTime = new Date(Number(event.streamId.split('-')[0])).toISOString();
      assert.equal(request.headers['ce-time'], expectedTime, sample);
      assert.equal(cloudEvent.time, expectedTime, sample);
      assert.deepEqual(cloudEvent.data, JSON.parse(event.body), sample);
      assert.equal(request.headers['content-type'], 'application/json');
      assert.equal(request.headers['ce-datacontenttype'], undefined, 'the binding forbids ce-datacontenttype');
    }
  });

  it('percent-encodes a subject with a space or non-ASCII, so that Node sends it and one decoding gives it back', async () => {
    const odd = 'malware--Paradise Ransomware "€" 100%';
    const event = sampleEvents().create;
    const request = await format.format({ ...event, body: withData(event.body, (data) => (data['id'] = odd)) });
    assert.equal(request.headers['ce-subject'], 'malware--Paradise%20Ransomware%20%22%E2%82%AC%22%20100%25');
    // Through a real HTTP hop: Node refuses a raw € in a header, and the receiver reads what was sent.
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        const received = HTTP.toEvent({ headers: req.headers, body }) as CloudEvent;
        received.validate();
        res.end(decodeURIComponent(String(received.subject)));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { method: 'POST', headers: request.headers, body: request.body });
      assert.equal(await response.text(), odd);
    } finally {
      server.close();
    }
  });

  it('encodes per UTF-8 byte with upper-case hex, and leaves printable ASCII alone', () => {
    assert.equal(percentEncode('Euro €'), 'Euro%20%E2%82%AC');
    assert.equal(percentEncode('https://opencti.example/stream/live'), 'https://opencti.example/stream/live');
    assert.equal(percentEncode('tab\there\u0000'), 'tab%09here%00');
  });

  it('leaves out the subject of an event without data.id rather than invent one', async () => {
    const request = await format.format({ ...sampleEvents().create, body: '{"data":{"type":"malware"},"message":"x"}' });
    assert.equal(request.headers['ce-subject'], undefined);
    parsed(request).validate();
  });

  it('needs OPENCTI_URL and the live stream id, checked at start', () => {
    assert.throws(() => testFormat({ format: 'cloudevents', liveStreamId: undefined }), { code: 'OWH_CONFIG', message: /CONNECTOR_LIVE_STREAM_ID/ });
    assert.throws(() => testFormat({ format: 'cloudevents', openctiUrl: undefined }), { code: 'OWH_CONFIG', message: /OPENCTI_URL/ });
  });
});
