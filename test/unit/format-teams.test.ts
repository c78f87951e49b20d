/**
 * FORMAT=teams, read by Microsoft's `adaptivecards` package: a Workflows
 * message whose Adaptive Card 1.5 parses and validates without a single
 * event, under the 28 KB Teams accepts (destination-formats.md §2).
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import type * as AdaptiveCards from 'adaptivecards';
import { buildFormat } from '../../dispatcher/formats/build.js';
import { FormatError } from '../../dispatcher/formats/format.js';
import { CUSTOM_MARKING, OPENCTI_URL, largeEvent, sampleEvents, testFormat, withData } from './format-events.js';

// 3.x's lib/ is ESM Node cannot load; its UMD bundle loads without a DOM (only render() needs one).
const AC = createRequire(import.meta.url)('adaptivecards/dist/adaptivecards.js') as typeof AdaptiveCards;

const MAX_BYTES = 28 * 1024;
const format = testFormat({ format: 'teams' });

interface TeamsMessage {
  type: string;
  attachments: Array<{ contentType: string; contentUrl: null; content: { type: string; version: string; body: Array<Record<string, unknown>>; actions: Array<{ type: string; url: string }> } }>;
}

/** Parses the card as Teams would and returns the message; fails on any parse or validation event. */
function checkedMessage(body: string): TeamsMessage {
  assert.ok(Buffer.byteLength(body) <= MAX_BYTES, `${Buffer.byteLength(body)} bytes: Teams takes at most 28 KB`);
  const message = JSON.parse(body) as TeamsMessage;
  assert.equal(message.type, 'message');
  assert.equal(message.attachments.length, 1);
  const [attachment] = message.attachments;
  assert.equal(attachment!.contentType, 'application/vnd.microsoft.card.adaptive');
  assert.equal(attachment!.contentUrl, null);
  assert.equal(attachment!.content.version, '1.5');
  const card = new AC.AdaptiveCard();
  const context = new AC.SerializationContext(AC.Versions.v1_5);
  card.parse(attachment!.content, context);
  const parseEvents = Array.from({ length: context.eventCount }, (_, i) => context.getEventAt(i).message);
  assert.deepEqual(parseEvents, []);
  assert.deepEqual(card.validateProperties().validationEvents.map((event) => event.message), []);
  return message;
}

const texts = (message: TeamsMessage): string => JSON.stringify(message.attachments[0]!.content.body);

describe('the teams format', () => {
  it('gives a card that parses and validates for every shape, saying what happened, to what and by whom, with a link', async () => {
    const events = sampleEvents();
    for (const [sample, event] of Object.entries(events)) {
      const request = await format.format(event);
      const message = checkedMessage(request.body);
      const envelope = JSON.parse(event.body) as { message: string; data: { extensions: Record<string, { id: string }> } };
      const [action] = message.attachments[0]!.content.actions;
      assert.equal(action?.type, 'Action.OpenUrl', sample);
      assert.equal(action?.url, `${OPENCTI_URL}/dashboard/id/${Object.values(envelope.data.extensions)[0]!.id}`, sample);
      assert.ok(texts(message).includes(JSON.stringify(envelope.message).slice(1, -1)), `${sample}: OpenCTI's message`);
      assert.ok(texts(message).includes('88ec0c6a-13ce-5e39-b486-354fe4a7084f'), `${sample}: the user`);
    }
    const create = checkedMessage((await format.format(events.create)).body);
    assert.match(texts(create), new RegExp(`TLP:RED, PAP:AMBER, ${CUSTOM_MARKING}`));
    assert.match(texts(create), /Malware created/);
    assert.match(texts(checkedMessage((await format.format(events.sighting)).body)), /203\.0\.113\.7 sighted in\/at ACME Corp/);
    assert.match(texts(checkedMessage((await format.format(events.relationship)).body)), /source uses /);
  });

  it('stays under 28 KB for a 100 KB description, and for long texts that JSON escapes to 6 bytes a character', async () => {
    const large = largeEvent(100_000);
    assert.ok((JSON.parse(large.body) as { data: { description: string } }).data.description.length > 95_000);
    const message = checkedMessage((await format.format(large)).body);
    assert.match(texts(message), /…/, 'the description is cut, visibly');
    const control = '\u0001'.repeat(50_000);
    const worst = withData(large.body, (data) => {
      data['name'] = control;
      data['description'] = control;
      data['object_marking_refs'] = Array.from({ length: 200 }, (_, i) => `marking-definition--${String(i).padStart(8, '0')}-0000-5000-8000-000000000000`);
    });
    const envelope = JSON.parse(worst) as Record<string, unknown>;
    envelope['message'] = control;
    checkedMessage((await format.format({ ...large, body: JSON.stringify(envelope) })).body);
  });

  it('fails an event whose message would still exceed 28 KB (a copied template), rather than send it', async () => {
    const oversized = buildFormat(
      { format: 'teams', openctiUrl: OPENCTI_URL },
      { render: async () => ({ ok: true, value: JSON.stringify({ type: 'message', text: 'x'.repeat(MAX_BYTES) }) }) },
    );
    await assert.rejects(async () => oversized.format(sampleEvents().create), (error: unknown) => {
      assert.ok(error instanceof FormatError);
      assert.equal(error.code, 'OWH_FORMAT_FAILED');
      assert.equal(error.reason, 'too-large');
      return true;
    });
  });
});
