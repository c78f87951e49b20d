/**
 * Each destination's FORMAT through the real processes (ingester, dispatcher,
 * stream emulator), read by what real receivers use: the official CloudEvents
 * SDK and standardwebhooks package, Microsoft's adaptivecards, a receiver that
 * answers like Splunk HEC, Slack's Block Kit limits. One connector feeds every
 * destination at once, so a template that fails (an error, a regular
 * expression that never ends) is seen next to the others it must not hold up.
 * Oracle: every request each receiver got, checked against the stream frames;
 * the failed sets as the CLI and BullMQ read them back.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type * as AdaptiveCards from 'adaptivecards';
import { Queue } from 'bullmq';
import { HTTP, type CloudEvent } from 'cloudevents';
import { Webhook } from 'standardwebhooks';
import { eventId } from '../../ingester/stream/frame.js';
import { destinationKeys, queuePrefix } from '../../shared/queue/contract.js';
import { runCliJson } from '../helpers/cli.js';
import { STREAM_ID } from '../helpers/factories.js';
import { startProcess } from '../helpers/processes.js';
import { RecordingReceiver, type RecordedRequest } from '../helpers/recording-receiver.js';
import { startSplunkHecReceiver, type SplunkHecReceiver } from '../helpers/splunk-hec-receiver.js';
import { OCTI_EXT, type EntityKind } from '../helpers/stix-fixtures.js';
import type { EmittedFrame, StreamEventName } from '../helpers/stream-emulator.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

// 3.x's lib/ is ESM Node cannot load; its UMD bundle loads without a DOM (only render() needs one).
const AC = createRequire(import.meta.url)('adaptivecards/dist/adaptivecards.js') as typeof AdaptiveCards;

const EVENTS: StreamEventName[] = ['create', 'update', 'delete', 'merge'];
const KINDS: EntityKind[] = ['malware', 'indicator', 'report', 'relationship', 'identity'];
const SIGNING_SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const HEC_TOKEN = 'hec-0f7c2a9e-token';
const TEAMS_MAX_BYTES = 28 * 1024;
const PICKY_ERROR = 'malware is not for this destination';
/** (a+)+ backtracks for ever against a run of a's that ends in a mismatch. */
const CATASTROPHIC = `${'a'.repeat(40)}!`;

interface Envelope {
  message: string;
  data: { id: string; type: string; extensions?: Record<string, { id?: string }> };
}

interface FailedList {
  total: number;
  events: Array<{ destination: string; id: string; failedReason: string | null }>;
}

const parse = (frame: EmittedFrame): Envelope => JSON.parse(frame.data) as Envelope;
const webhookIdOf = (frame: EmittedFrame): string => eventId(frame.event, frame.id, frame.data);
const header = (request: RecordedRequest, name: string): string => String(request.headers[name]);
const idsOf = (requests: RecordedRequest[]): string[] => requests.map((request) => header(request, 'webhook-id')).sort();
const sortedIds = (frames: EmittedFrame[]): string[] => frames.map(webhookIdOf).sort();

describe('formats, through the real pipeline', () => {
  let bed: TestBed;
  let hec: SplunkHecReceiver;
  let templateDir: string;
  let frames: EmittedFrame[];
  let byId: Map<string, EmittedFrame>;
  let env: Record<string, string>;
  let looping: EmittedFrame;
  const receivers: Record<'ce' | 'teams' | 'slack' | 'inline' | 'file' | 'picky' | 'loop', RecordingReceiver> = {} as never;

  /** Waits until `receiver` got `count` 2xx answers, and returns every request it got. */
  const delivered = async (receiver: RecordingReceiver, count: number, what: string): Promise<RecordedRequest[]> => {
    await waitFor(() => (receiver.delivered().length >= count ? true : undefined), { timeoutMs: 30_000, what });
    return receiver.requests;
  };

  before(async () => {
    bed = await startTestBed();
    for (const name of ['ce', 'teams', 'slack', 'inline', 'file', 'picky', 'loop'] as const) receivers[name] = await RecordingReceiver.start();
    hec = await startSplunkHecReceiver(HEC_TOKEN);
    templateDir = await mkdtemp(join(tmpdir(), 'opencti-webhook-templates-'));
    const templateFile = join(templateDir, 'soc.jsonata');
    await writeFile(templateFile, '{\n  "from": "file",\n  "title": $entityType & " " & $event,\n  "link": $link,\n  "webhookId": $webhookId\n}\n');

    frames = bed.emulator.publishMany(40, (i) => ({ event: EVENTS[i % 4], entityType: KINDS[i % 5] }));
    byId = new Map(frames.map((frame) => [webhookIdOf(frame), frame]));
    looping = frames.find((frame) => parse(frame).data.type === 'indicator')!;
    assert.equal(byId.size, frames.length, 'one webhook-id per event');

    env = bed.env({
      DESTINATIONS: 'ce,teams,slack,splunk,inline,file,picky,loop',
      DESTINATION_CE_URL: receivers.ce.url,
      DESTINATION_CE_FORMAT: 'cloudevents',
      DESTINATION_CE_SIGNING_SECRET: SIGNING_SECRET,
      DESTINATION_TEAMS_URL: receivers.teams.url,
      DESTINATION_TEAMS_FORMAT: 'teams',
      DESTINATION_SLACK_URL: receivers.slack.url,
      DESTINATION_SLACK_FORMAT: 'slack',
      DESTINATION_SPLUNK_URL: hec.url,
      DESTINATION_SPLUNK_FORMAT: 'splunk-hec',
      DESTINATION_SPLUNK_AUTH_TYPE: 'SPLUNK',
      DESTINATION_SPLUNK_TOKEN: HEC_TOKEN,
      DESTINATION_INLINE_URL: receivers.inline.url,
      DESTINATION_INLINE_FORMAT: 'template',
      DESTINATION_INLINE_TEMPLATE: '{"from": "inline", "id": data.id, "event": $event, "streamId": $streamId, "webhookId": $webhookId}',
      DESTINATION_FILE_URL: receivers.file.url,
      DESTINATION_FILE_FORMAT: 'template',
      DESTINATION_FILE_TEMPLATE: `@${templateFile}`,
      // Fails on malware after starting the object: nothing of it may leave.
      DESTINATION_PICKY_URL: receivers.picky.url,
      DESTINATION_PICKY_FORMAT: 'template',
      DESTINATION_PICKY_TEMPLATE: `{"id": data.id, "check": data.type = "malware" ? $error("${PICKY_ERROR}") : "ok"}`,
      // The regular expression runs on every event; on one it backtracks for ever.
      DESTINATION_LOOP_URL: receivers.loop.url,
      DESTINATION_LOOP_FORMAT: 'template',
      DESTINATION_LOOP_TEMPLATE: `{"id": data.id, "matched": $exists($match($streamId = "${looping.id}" ? "${CATASTROPHIC}" : data.id, /^(a+)+$/))}`,
    });
    await startProcess('ingester', env);
    await startProcess('dispatcher', env);
  });

  after(async () => {
    await Promise.all([...Object.values(receivers).map((receiver) => receiver?.close()), hec?.close()]);
    await bed?.close();
    if (templateDir !== undefined) await rm(templateDir, { recursive: true, force: true });
  });

  it('cloudevents: the SDK reads every request back, with our id, type and source, the body byte for byte, and standardwebhooks verifies its signature', async () => {
    const requests = await delivered(receivers.ce, frames.length, 'every event in CloudEvents');
    assert.deepEqual(idsOf(receivers.ce.delivered()), sortedIds(frames));
    const verifier = new Webhook(SIGNING_SECRET);
    for (const request of requests) {
      const frame = byId.get(header(request, 'webhook-id'));
      assert.ok(frame, `request for an unknown webhook-id ${header(request, 'webhook-id')}`);
      assert.ok(request.bodyBytes.equals(Buffer.from(frame.data)), 'the body is the stream data, byte for byte');
      const event = HTTP.toEvent({ headers: request.headers, body: request.body });
      assert.ok(!Array.isArray(event), 'one event, not a batch');
      const cloudEvent = event as CloudEvent;
      cloudEvent.validate();
      assert.equal(cloudEvent.specversion, '1.0');
      assert.equal(cloudEvent.id, header(request, 'webhook-id'));
      assert.equal(cloudEvent.type, `io.opencti.stream.${frame.event}`);
      assert.equal(cloudEvent.source, `${env.OPENCTI_URL!.replace(/\/+$/, '')}/stream/${STREAM_ID}`);
      assert.equal(cloudEvent.subject, parse(frame).data.id);
      // Signed over the bytes sent: the CloudEvents headers change nothing of the body.
      assert.deepEqual(verifier.verify(request.bodyBytes, request.headers as Record<string, string>), JSON.parse(frame.data));
    }
  });

  it('teams: every body is an Adaptive Card 1.5 that parses and validates without one event, under 28 KB, linking to the object in OpenCTI', async () => {
    const requests = await delivered(receivers.teams, frames.length, 'every event as a Teams card');
    assert.deepEqual(idsOf(receivers.teams.delivered()), sortedIds(frames));
    for (const request of requests) {
      assert.ok(request.bodyBytes.length <= TEAMS_MAX_BYTES, `${request.bodyBytes.length} bytes`);
      const message = JSON.parse(request.body) as { type: string; attachments: Array<{ contentType: string; content: { version: string; actions: Array<{ type: string; url: string }> } }> };
      assert.equal(message.type, 'message');
      assert.equal(message.attachments.length, 1);
      const [attachment] = message.attachments;
      assert.equal(attachment!.contentType, 'application/vnd.microsoft.card.adaptive');
      assert.equal(attachment!.content.version, '1.5');
      const card = new AC.AdaptiveCard();
      const context = new AC.SerializationContext(AC.Versions.v1_5);
      card.parse(attachment!.content, context);
      assert.deepEqual(Array.from({ length: context.eventCount }, (_, i) => context.getEventAt(i).message), []);
      assert.deepEqual(card.validateProperties().validationEvents.map((event) => event.message), []);
      const { data } = parse(byId.get(header(request, 'webhook-id'))!);
      const linkId = data.extensions?.[OCTI_EXT]?.id ?? data.id;
      const open = attachment!.content.actions.find((action) => action.type === 'Action.OpenUrl');
      assert.equal(open?.url, `${env.OPENCTI_URL!.replace(/\/+$/, '')}/dashboard/id/${encodeURIComponent(linkId)}`);
    }
  });

  it('splunk-hec: a receiver that answers like HEC accepts every event (code 0), none lost, none twice', async () => {
    await waitFor(() => (hec.events.length >= frames.length ? true : undefined), { timeoutMs: 30_000, what: 'every event in HEC' });
    assert.deepEqual(
      hec.events.map((envelope) => JSON.stringify(envelope.event)).sort(),
      frames.map((frame) => JSON.stringify(JSON.parse(frame.data))).sort(),
    );
    for (const envelope of hec.events) {
      assert.equal(envelope.source, `opencti:${STREAM_ID}`);
      assert.equal(typeof envelope.time, 'number');
    }
    const queue = new Queue(destinationKeys(env.CONNECTOR_ID!, 'splunk').queueName, { connection: bed.redis.client(), prefix: queuePrefix(env.CONNECTOR_ID!) });
    assert.equal((await queue.getJobCounts('failed')).failed, 0, 'HEC refused nothing');
    await queue.close();
  });

  it('slack: every body is a message with text and blocks within Block Kit limits', async () => {
    const requests = await delivered(receivers.slack, frames.length, 'every event as a Slack message');
    assert.deepEqual(idsOf(receivers.slack.delivered()), sortedIds(frames));
    for (const request of requests) {
      const message = JSON.parse(request.body) as { text: string; blocks: Array<{ type: string; text?: { type: string; text: string }; fields?: Array<{ text: string }> }> };
      assert.equal(typeof message.text, 'string');
      assert.ok(message.text.length > 0 && message.text.length <= 3000, 'text');
      assert.ok(message.blocks.length > 0 && message.blocks.length <= 50, `${message.blocks.length} blocks`);
      for (const block of message.blocks) {
        if (block.type === 'header') assert.ok(block.text?.type === 'plain_text' && block.text.text.length <= 150, 'header');
        if (block.type === 'section') {
          assert.ok(block.text !== undefined || block.fields !== undefined, 'a section has text or fields');
          assert.ok((block.text?.text.length ?? 0) <= 3000, 'section text');
          assert.ok((block.fields ?? []).length <= 10 && (block.fields ?? []).every((field) => field.text.length <= 2000), 'fields');
        }
      }
      assert.ok(request.body.includes(`${env.OPENCTI_URL!.replace(/\/+$/, '')}/dashboard/id/`), 'a link to the object in OpenCTI');
    }
  });

  it('template: an inline TEMPLATE and one read from @file shape the body', async () => {
    const inline = await delivered(receivers.inline, frames.length, 'every event through the inline template');
    const file = await delivered(receivers.file, frames.length, 'every event through the file template');
    assert.deepEqual(idsOf(receivers.inline.delivered()), sortedIds(frames));
    assert.deepEqual(idsOf(receivers.file.delivered()), sortedIds(frames));
    for (const request of inline) {
      const webhookId = header(request, 'webhook-id');
      const frame = byId.get(webhookId)!;
      assert.deepEqual(JSON.parse(request.body), { from: 'inline', id: parse(frame).data.id, event: frame.event, streamId: frame.id, webhookId });
    }
    for (const request of file) {
      const webhookId = header(request, 'webhook-id');
      const body = JSON.parse(request.body) as { from: string; title: string; link: string; webhookId: string };
      assert.equal(body.from, 'file');
      assert.equal(body.webhookId, webhookId);
      assert.match(body.title, new RegExp(` ${byId.get(webhookId)!.event}$`));
      assert.match(body.link, /\/dashboard\/id\/./);
    }
  });

  it('template: one that fails on some events sends exactly those to its failed set with the reason, nothing of them to the receiver, and goes on with the others', async () => {
    const malware = frames.filter((frame) => parse(frame).data.type === 'malware');
    const others = frames.filter((frame) => !malware.includes(frame));
    assert.ok(malware.length > 0 && others.length > 0);
    const failed = await waitFor(
      async () => {
        const list = await runCliJson<FailedList>(['failed', '--destination', 'picky', '--limit', '1000'], env);
        return list.total >= malware.length ? list : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: "the malware events in picky's failed set" },
    );
    await delivered(receivers.picky, others.length, 'the other events through the failing template');
    assert.deepEqual(failed.events.map((event) => event.id).sort(), sortedIds(malware));
    for (const event of failed.events) {
      assert.equal(event.destination, 'picky');
      assert.match(event.failedReason ?? '', new RegExp(PICKY_ERROR));
    }
    // Every request is a whole body for an event the template accepts; a failed event was never sent.
    assert.deepEqual(idsOf(receivers.picky.requests), sortedIds(others));
    for (const request of receivers.picky.requests) assert.deepEqual(JSON.parse(request.body), { id: parse(byId.get(header(request, 'webhook-id'))!).data.id, check: 'ok' });
    // The other destinations were not touched: raw gets every event byte for byte, and nothing else failed.
    await delivered(bed.receiver, frames.length, 'every event raw');
    assert.deepEqual(bed.receiver.delivered().map((request) => request.body).sort(), frames.map((frame) => frame.data).sort());
    const everyFailed = await runCliJson<FailedList>(['failed', '--limit', '1000'], env);
    assert.deepEqual([...new Set(everyFailed.events.map((event) => event.destination))].filter((name) => name !== 'picky' && name !== 'loop'), []);
  });

  it('template: one that loops on one event fails that event (timeout), and the others go through', async () => {
    const others = frames.filter((frame) => frame !== looping);
    await delivered(receivers.loop, others.length, 'the other events through the looping template');
    const queue = new Queue(destinationKeys(env.CONNECTOR_ID!, 'loop').queueName, { connection: bed.redis.client(), prefix: queuePrefix(env.CONNECTOR_ID!) });
    try {
      const failed = await waitFor(async () => ((await queue.getFailedCount()) >= 1 ? queue.getJobs(['failed']) : undefined), { timeoutMs: 30_000, what: 'the looping event in the failed set' });
      assert.deepEqual(failed.map((job) => job.id), [webhookIdOf(looping)]);
      assert.match(failed[0]!.failedReason, /ran out of time/);
      assert.deepEqual(idsOf(receivers.loop.requests), sortedIds(others));
      for (const request of receivers.loop.requests) assert.equal((JSON.parse(request.body) as { matched: boolean }).matched, false);
    } finally {
      await queue.close();
    }
  });
});
