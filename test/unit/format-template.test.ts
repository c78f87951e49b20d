/**
 * FORMAT=template and what every template gets: the bindings, failures that
 * become FormatError (OWH_FORMAT_FAILED) without the event in the message,
 * templates read and checked at start, and raw's zero-cost path.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildFormat } from '../../dispatcher/formats/build.js';
import { FormatError, type FormatFailure, type OutgoingEvent, type TemplateRunner } from '../../dispatcher/formats/format.js';
import { FORMATS } from '../../shared/config/schema.js';
import { templateSource } from '../../dispatcher/formats/templates.js';
import { repoFile } from '../helpers/docs.js';
import { CUSTOM_MARKING, OPENCTI_URL, sampleEvents, testFormat, withData } from './format-events.js';

const ALL_BINDINGS =
  '{"event": $event, "webhookId": $webhookId, "streamId": $streamId, "time": $time, "timeSeconds": $timeSeconds, "stixId": $stixId, "entityType": $entityType, "name": $name, "link": $link, "markings": $markings, "message": $message, "userId": $userId, "openctiUrl": $openctiUrl, "openctiHost": $openctiHost, "liveStreamId": $liveStreamId}';

async function bindingsOf(event: OutgoingEvent, settings: { openctiUrl?: string } = {}): Promise<Record<string, unknown>> {
  const format = testFormat({ format: 'template', template: ALL_BINDINGS, ...settings });
  return JSON.parse((await format.format(event)).body) as Record<string, unknown>;
}

async function failure(format: ReturnType<typeof testFormat>, event: OutgoingEvent, reason: FormatFailure): Promise<FormatError> {
  let caught: unknown;
  try {
    await format.format(event);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof FormatError, `expected a FormatError, got ${String(caught)}`);
  assert.equal(caught.code, 'OWH_FORMAT_FAILED');
  assert.equal(caught.reason, reason);
  return caught;
}

describe('a user template', () => {
  it('builds the body from the event and the bindings (the configuration has already read an @file)', async () => {
    const source = '{"title": $entityType & ": " & $name, "tlp": $markings[0], "url": $link, "labels": data.labels}';
    const { create } = sampleEvents();
    const data = (JSON.parse(create.body) as { data: { name: string; labels: string[]; extensions: Record<string, { id: string }> } }).data;
    const expected = { title: `Malware: ${data.name}`, tlp: 'TLP:RED', url: `${OPENCTI_URL}/dashboard/id/${Object.values(data.extensions)[0]!.id}`, labels: data.labels };
    const inline = await testFormat({ format: 'template', template: source }).format(create);
    assert.deepEqual(JSON.parse(inline.body), expected);
    assert.deepEqual(inline.headers, {});
  });

  it('that throws fails the event with OWH_FORMAT_FAILED and the reason, never the event', async () => {
    const { create } = sampleEvents();
    const error = await failure(testFormat({ format: 'template', template: '$error("no " & $entityType & " please")' }), create, 'error');
    assert.match(error.message, /template failed: .*no Malware please/);
    const data = (JSON.parse(create.body) as { data: { description: string } }).data;
    assert.ok(!error.message.includes(data.description));
  });

  it('that produces anything but a JSON object fails the event, without showing what it produced', async () => {
    const { create } = sampleEvents();
    for (const [template, kind] of [['"secret text"', 'a string'], ['[1, 2]', 'an array'], ['42', 'a number'], ['$nothing', 'nothing'], ['null', 'null']] as const) {
      const error = await failure(testFormat({ format: 'template', template }), create, 'not-an-object');
      assert.match(error.message, new RegExp(`produced ${kind}, not a JSON object`), template);
      assert.ok(!error.message.includes('secret'));
    }
  });

  it('that runs out of time fails the event with reason timeout', async () => {
    const slow: TemplateRunner = { render: async () => ({ ok: false, code: 'timeout', message: 'D1012 Expression evaluation timeout' }) };
    const format = buildFormat({ format: 'template', template: '{"a": 1}' }, slow);
    assert.match((await failure(format, sampleEvents().create, 'timeout')).message, /ran out of time/);
  });

  it('on a body that is not a JSON object fails the event before running', async () => {
    await failure(testFormat({ format: 'template', template: '{"a": 1}' }), { ...sampleEvents().create, body: 'not json' }, 'not-json');
  });

  it('is refused at start when missing (the configuration refuses an invalid one, or one set for another format)', () => {
    assert.throws(() => testFormat({ format: 'template' }), { code: 'OWH_CONFIG', message: /FORMAT=template needs TEMPLATE/ });
  });
});

describe('the bindings', () => {
  it('say what happened, to what and by whom, with marking names and a link to the internal id', async () => {
    const { create } = sampleEvents();
    const data = (JSON.parse(create.body) as { data: { id: string; name: string; extensions: Record<string, { id: string }> } }).data;
    assert.deepEqual(await bindingsOf(create), {
      event: 'create',
      webhookId: create.webhookId,
      streamId: create.streamId,
      time: '2025-02-12T11:54:00.001Z',
      timeSeconds: 1_739_361_240.001,
      stixId: data.id,
      entityType: 'Malware',
      name: data.name,
      link: `${OPENCTI_URL}/dashboard/id/${Object.values(data.extensions)[0]!.id}`,
      markings: ['TLP:RED', 'PAP:AMBER', CUSTOM_MARKING],
      message: `creates a Malware \`${data.name}\``,
      userId: '88ec0c6a-13ce-5e39-b486-354fe4a7084f',
      openctiUrl: OPENCTI_URL,
      openctiHost: 'opencti.example',
      liveStreamId: 'live',
    });
  });

  it('name each shape as OpenCTI does: relationship, sighting, note, observable, file hash; the other events keep their type', async () => {
    const events = sampleEvents();
    assert.match(String((await bindingsOf(events.relationship)).name), /^.+ source uses (Phishing|Spearphishing Attachment|Исполнение команд|コマンド実行)$/);
    assert.equal((await bindingsOf(events.sighting)).name, '203.0.113.7 sighted in/at ACME Corp');
    for (const sample of ['update', 'merge', 'delete'] as const) {
      const bindings = await bindingsOf(events[sample]);
      assert.equal(bindings['event'], events[sample].event);
      assert.equal(typeof bindings['name'], 'string', sample);
      assert.equal(typeof bindings['message'], 'string', sample);
    }
    const reshaped = async (change: (data: Record<string, unknown>) => void) => bindingsOf({ ...events.create, body: withData(events.create.body, change) });
    const note = await reshaped((data) => {
      delete data['name'];
      data['type'] = 'note';
      data['abstract'] = 'Weekly summary';
    });
    assert.equal(note.name, 'Weekly summary');
    assert.equal((await reshaped((data) => ((data['type'] = 'ipv4-addr'), delete data['name'], (data['value'] = '198.51.100.7')))).name, '198.51.100.7');
    assert.equal((await reshaped((data) => ((data['type'] = 'file'), (data['hashes'] = { MD5: 'md5', 'SHA-256': 'sha256' })))).name, 'sha256');
  });

  it('link to data.id without the OpenCTI extension, and leave out link and host without OPENCTI_URL', async () => {
    const { create } = sampleEvents();
    const bare = await bindingsOf({ ...create, body: withData(create.body, (data) => delete data['extensions']) });
    assert.equal(bare['link'], `${OPENCTI_URL}/dashboard/id/${String(bare['stixId'])}`);
    assert.equal(bare['entityType'], 'malware');
    const noUrl = await bindingsOf(create, { openctiUrl: undefined });
    assert.equal(noUrl['link'], undefined);
    assert.equal(noUrl['openctiHost'], undefined);
  });
});

describe('the built-in templates', () => {
  it('are JSONata files a user can copy: read at start from the package, and shipped in the image at the same place', () => {
    for (const format of ['slack', 'teams', 'splunk-hec'] as const) {
      assert.equal(templateSource(format), repoFile(`dispatcher/formats/templates/${format}.jsonata`));
      assert.equal(testFormat({ format }).template, templateSource(format));
    }
    assert.equal(templateSource('raw'), undefined);
    assert.equal(templateSource('cloudevents'), undefined);
    assert.match(repoFile('Dockerfile.dispatcher'), /^COPY --from=build \/app\/dispatcher\/formats\/templates \.\/dispatcher\/formats\/templates$/m);
  });

  it('need OPENCTI_URL (their link), checked at start', () => {
    for (const format of ['slack', 'teams', 'splunk-hec'] as const) assert.throws(() => testFormat({ format, openctiUrl: undefined }), { code: 'OWH_CONFIG' });
  });
});

describe('every format', () => {
  it('builds from its settings and has its section in docs/formats.md, with every binding', () => {
    const docs = repoFile('docs/formats.md');
    for (const name of FORMATS) {
      assert.equal(testFormat({ format: name, ...(name === 'template' ? { template: '{}' } : {}) }).name, name);
      assert.match(docs, new RegExp(`^## ${name}\\b`, 'm'), name);
    }
    for (const binding of ALL_BINDINGS.match(/\$[a-zA-Z]+/g)!) assert.ok(docs.includes(`\`${binding}\``), `${binding} is documented`);
  });
});

describe('the raw format', () => {
  it('sends the body as is with no headers, allocating nothing per event', () => {
    const raw = buildFormat({ format: 'raw' });
    const { create, update } = sampleEvents();
    const first = raw.format(create);
    const second = raw.format(update);
    assert.ok(!(first instanceof Promise));
    assert.ok(!(second instanceof Promise));
    assert.equal(first.body, create.body);
    assert.deepEqual(first.headers, {});
    assert.equal(first.headers, second.headers, 'one shared headers object');
    assert.ok(Object.isFrozen(first.headers));
    assert.equal(raw.template, undefined);
  });
});
