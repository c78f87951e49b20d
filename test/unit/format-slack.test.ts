/**
 * FORMAT=slack: an incoming-webhook message within Block Kit's limits
 * (≤ 50 blocks, section text ≤ 3000, field ≤ 2000, header ≤ 150), with
 * untrusted text escaped (&, <, > only) so it cannot ping a channel
 * (destination-formats.md §3).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CUSTOM_MARKING, OPENCTI_URL, largeEvent, sampleEvents, testFormat, withData } from './format-events.js';

interface TextObject {
  type: 'plain_text' | 'mrkdwn';
  text: string;
}
interface Block {
  type: string;
  text?: TextObject;
  fields?: TextObject[];
  /** Context: text objects; actions: buttons, whose text is a text object. */
  elements?: Array<{ type: string; text: string | TextObject; url?: string }>;
}
interface SlackMessage {
  text: string;
  blocks: Block[];
}

const format = testFormat({ format: 'slack' });

/** Checks Slack's limits and returns every text of the message. */
function checkedTexts(body: string): string[] {
  const message = JSON.parse(body) as SlackMessage;
  assert.equal(typeof message.text, 'string');
  assert.ok(message.text.length > 0 && message.text.length <= 3000);
  assert.ok(message.blocks.length > 0 && message.blocks.length <= 50, `${message.blocks.length} blocks`);
  const texts = [message.text];
  for (const block of message.blocks) {
    if (block.type === 'header') {
      assert.equal(block.text?.type, 'plain_text');
      assert.ok(block.text.text.length <= 150, 'header');
    }
    if (block.type === 'section') {
      assert.ok(block.text !== undefined || block.fields !== undefined, 'a section has text or fields');
      if (block.text) assert.ok(block.text.text.length <= 3000, `section text of ${block.text.text.length}`);
      assert.ok((block.fields ?? []).length <= 10);
      for (const field of block.fields ?? []) assert.ok(field.text.length <= 2000, 'field');
    }
    for (const text of [block.text, ...(block.fields ?? [])]) if (text) texts.push(text.text);
    for (const element of block.elements ?? []) texts.push(typeof element.text === 'string' ? element.text : element.text.text);
  }
  // Escaped or cut, an & always starts a whole entity.
  for (const text of texts) assert.doesNotMatch(text, /&(?!amp;|lt;|gt;)/, 'a bare or cut & entity');
  return texts;
}

describe('the slack format', () => {
  it('gives a message with text and blocks for every shape: what happened, to what, by whom, markings and a link', async () => {
    for (const [sample, event] of Object.entries(sampleEvents())) {
      const body = (await format.format(event)).body;
      const all = checkedTexts(body).join('\n');
      const envelope = JSON.parse(event.body) as { message: string; data: { extensions: Record<string, { id: string }> } };
      const link = `${OPENCTI_URL}/dashboard/id/${Object.values(envelope.data.extensions)[0]!.id}`;
      assert.ok(all.includes(`<${link}|`), `${sample}: a link to the object`);
      const button = (JSON.parse(body) as SlackMessage).blocks.find((block) => block.type === 'actions')?.elements?.[0];
      assert.equal(button?.url, link, sample);
      assert.ok(all.includes(envelope.message.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')), `${sample}: OpenCTI's message`);
      assert.ok(all.includes('88ec0c6a-13ce-5e39-b486-354fe4a7084f'), `${sample}: the user`);
    }
    const create = checkedTexts((await format.format(sampleEvents().create)).body).join('\n');
    assert.ok(create.includes(`TLP:RED, PAP:AMBER, ${CUSTOM_MARKING}`));
    assert.match(create, /Malware created/);
  });

  it('escapes <!channel> and & in names, messages and descriptions', async () => {
    const event = sampleEvents().create;
    const envelope = JSON.parse(withData(event.body, (data) => {
      data['name'] = '<!channel> Tom & Jerry <https://evil.example|click>';
      data['description'] = '<!here> <@U012AB3CD>';
    })) as Record<string, unknown>;
    envelope['message'] = 'creates a Malware `<!everyone>`';
    const body = (await format.format({ ...event, body: JSON.stringify(envelope) })).body;
    const all = checkedTexts(body).join('\n');
    for (const raw of ['<!channel>', '<!here>', '<!everyone>', '<@U012AB3CD>', '<https://evil.example']) assert.ok(!body.includes(raw), raw);
    assert.ok(all.includes('&lt;!channel&gt; Tom &amp; Jerry &lt;https://evil.example|click&gt;'));
  });

  it('keeps to the limits for a 100 KB description and long texts full of &', async () => {
    const large = largeEvent(100_000);
    checkedTexts((await format.format(large)).body);
    const ampersands = '&<>'.repeat(3000);
    const envelope = JSON.parse(withData(large.body, (data) => {
      data['name'] = ampersands;
      data['description'] = ampersands;
      data['object_marking_refs'] = Array.from({ length: 500 }, () => 'ACME:&<>');
    })) as Record<string, unknown>;
    envelope['message'] = ampersands;
    checkedTexts((await format.format({ ...large, body: JSON.stringify(envelope) })).body);
  });
});
