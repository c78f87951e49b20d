/**
 * Self-test of the OpenCTI live-stream emulator (test/helpers/stream-emulator.ts) against
 * /work/shared/reference/opencti-live-stream.md. Uses a raw node:http client and a tiny SSE
 * parser written here (no product code). Every wait is bounded.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { request, type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import { StreamEmulator, type EmittedFrame, type StreamEmulatorOptions } from '../helpers/stream-emulator.js';

const TOKEN = 'emulator-token';
const STREAM = 'live-stream-1';
const OCTI_EXT = 'extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba';
const AUTH = { Authorization: `Bearer ${TOKEN}` };

// -------------------------------------------------------------------------------------------
// Minimal SSE client
// -------------------------------------------------------------------------------------------

interface SseFrame {
  id: string | undefined;
  event: string | undefined;
  data: string | undefined;
}

class SseClient {
  readonly frames: SseFrame[] = [];
  rawText = '';
  body = '';
  status = 0;
  statusMessage = '';
  headers: IncomingHttpHeaders = {};
  /** Response finished (EOF or abort). */
  closed = false;
  /** True when the body ended with a proper terminating chunk (server-side end()). */
  cleanEnd = false;
  private buffer = '';
  private readonly emitter = new EventEmitter();
  private req: ClientRequest | undefined;

  static open(url: string, headers: Record<string, string> = {}, timeoutMs = 3000): Promise<SseClient> {
    const client = new SseClient();
    return new Promise<SseClient>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no response from ${url}`)), timeoutMs);
      const req = request(url, { method: 'GET', headers: { Accept: 'text/event-stream', ...headers }, agent: false }, (res) => {
        clearTimeout(timer);
        client.status = res.statusCode ?? 0;
        client.statusMessage = res.statusMessage ?? '';
        client.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => client.onData(chunk));
        res.on('error', () => undefined);
        res.on('close', () => {
          client.closed = true;
          client.cleanEnd = res.complete;
          client.emitter.emit('change');
        });
        resolve(client);
      });
      req.on('error', (err) => {
        clearTimeout(timer);
        if (client.status === 0) reject(err);
      });
      req.end();
      client.req = req;
    });
  }

  private onData(chunk: string): void {
    if (this.status !== 200) {
      this.body += chunk;
      return;
    }
    this.rawText += chunk;
    this.buffer += chunk;
    let sep = this.buffer.indexOf('\n\n');
    while (sep !== -1) {
      const block = this.buffer.slice(0, sep);
      this.buffer = this.buffer.slice(sep + 2);
      const frame: SseFrame = { id: undefined, event: undefined, data: undefined };
      for (const line of block.split('\n')) {
        const colon = line.indexOf(':');
        if (colon === 0) continue;
        const name = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (name === 'id') frame.id = value;
        else if (name === 'event') frame.event = value;
        else if (name === 'data') frame.data = frame.data === undefined ? value : `${frame.data}\n${value}`;
      }
      this.frames.push(frame);
      sep = this.buffer.indexOf('\n\n');
    }
    this.emitter.emit('change');
  }

  /** Frames carrying an id other than heartbeat (what a pycti-like client hands to its callback). */
  dataFrames(): EmittedFrame[] {
    return this.frames
      .filter((f) => f.id !== undefined && f.event !== 'heartbeat' && f.event !== 'connected')
      .map((f) => ({ id: f.id ?? '', event: f.event ?? 'message', data: f.data ?? '' }));
  }

  heartbeats(): SseFrame[] {
    return this.frames.filter((f) => f.event === 'heartbeat');
  }

  waitFor(predicate: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onChange = (): void => {
        if (predicate()) {
          cleanup();
          resolve();
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${this.frames.length} frames`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.emitter.off('change', onChange);
      };
      this.emitter.on('change', onChange);
    });
  }

  waitForData(n: number, timeoutMs = 3000): Promise<void> {
    return this.waitFor(() => this.dataFrames().length >= n, `${n} data frames`, timeoutMs);
  }

  waitForClose(timeoutMs = 3000): Promise<void> {
    return this.waitFor(() => this.closed, 'end of response', timeoutMs);
  }

  close(): void {
    this.req?.destroy();
  }
}

// -------------------------------------------------------------------------------------------
// Helpers
// -------------------------------------------------------------------------------------------

function parseId(id: string): [number, number] {
  const m = /^(\d+)-(\d+)$/.exec(id);
  assert.ok(m !== null, `not a stream id: ${id}`);
  return [Number(m[1]), Number(m[2])];
}

function cmpId(a: string, b: string): number {
  const [am, as] = parseId(a);
  const [bm, bs] = parseId(b);
  return am !== bm ? am - bm : as - bs;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function obj(v: Json | undefined): { [k: string]: Json } {
  assert.ok(typeof v === 'object' && v !== null && !Array.isArray(v), 'expected a JSON object');
  return v;
}

function parse(data: string): { [k: string]: Json } {
  return obj(JSON.parse(data) as Json);
}

const mainOf = (frames: EmittedFrame[]): EmittedFrame => {
  const f = frames[frames.length - 1];
  assert.ok(f !== undefined);
  return f;
};

async function withEmulator(opts: StreamEmulatorOptions, fn: (emu: StreamEmulator, open: (path: string, headers?: Record<string, string>) => Promise<SseClient>) => Promise<void>): Promise<void> {
  const emu = await StreamEmulator.start(opts);
  const clients: SseClient[] = [];
  const open = async (path: string, headers: Record<string, string> = {}): Promise<SseClient> => {
    const c = await SseClient.open(`${emu.url}${path}`, headers);
    clients.push(c);
    return c;
  };
  try {
    await fn(emu, open);
  } finally {
    for (const c of clients) c.close();
    await emu.close();
  }
}

/** Resolves once Date.now() > ms (at most ~1 s). */
async function waitForClockAfter(ms: number): Promise<void> {
  const deadline = Date.now() + 1000;
  while (Date.now() <= ms) {
    assert.ok(Date.now() < deadline, 'clock did not advance');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Publishes a sentinel event and waits for it, so "nothing else arrived before it" can be asserted. */
async function sentinel(emu: StreamEmulator, client: SseClient): Promise<EmittedFrame> {
  const frame = mainOf(emu.publish({ entityType: 'malware' }));
  await client.waitFor(() => client.dataFrames().some((f) => f.id === frame.id), 'sentinel');
  return frame;
}

// -------------------------------------------------------------------------------------------
// Tests
// -------------------------------------------------------------------------------------------

describe('StreamEmulator', () => {
  it('answers 200 with the exact SSE headers and an id-less connected frame first', async () => {
    await withEmulator({ heartbeatIntervalMs: 5000 }, async (emu, open) => {
      const published = emu.publishMany(3);
      const c = await open(`/stream/${STREAM}`, AUTH);
      assert.equal(c.status, 200);
      assert.equal(c.headers['connection'], 'keep-alive');
      assert.equal(c.headers['content-type'], 'text/event-stream; charset=utf-8');
      assert.equal(c.headers['access-control-allow-origin'], '*');
      assert.equal(c.headers['cache-control'], 'no-cache, no-transform');
      assert.equal(c.headers['transfer-encoding'], 'chunked');
      assert.equal(c.headers['content-length'], undefined);
      await c.waitFor(() => c.frames.length >= 1, 'connected frame');
      assert.ok(c.rawText.startsWith('event: connected\ndata: {'), 'connected must be first and have no id line');
      const connected = c.frames[0];
      assert.ok(connected !== undefined);
      assert.equal(connected.id, undefined);
      assert.equal(connected.event, 'connected');
      const info = parse(connected.data ?? '');
      assert.deepEqual(Object.keys(info), ['lastEventId', 'firstEventId', 'firstEventDate', 'lastEventDate', 'streamSize', 'connectionId']);
      assert.equal(info['lastEventId'], mainOf(published).id);
      assert.equal(info['firstEventId'], published[0]?.id);
      assert.equal(info['streamSize'], 3);
      assert.equal(info['firstEventDate'], new Date(parseId(String(info['firstEventId']))[0]).toISOString());
      assert.match(String(info['connectionId']), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(emu.requests[0]?.connectionId, info['connectionId']);
      // No start position → live: only events published after connecting.
      const fresh = emu.publish();
      await c.waitForData(1);
      assert.deepEqual(c.dataFrames(), fresh);
      assert.equal(emu.openConnections, 1);
      // Framing: \n only, no retry:, no comments.
      assert.ok(!c.rawText.includes('\r'));
      assert.ok(!/^retry:/m.test(c.rawText));
      assert.ok(!/^:/m.test(c.rawText));
      assert.equal(c.rawText.split('\n\n').length - 1, c.frames.length);
    });
  });

  it('rejects with 401/410/500, reason in the status line and an empty body', async () => {
    await withEmulator({ streams: { [STREAM]: { live: true }, stopped: { live: false }, open: { live: true, public: true } } }, async (emu, open) => {
      const expectError = async (path: string, headers: Record<string, string>, status: number, reason: string): Promise<void> => {
        const c = await open(path, headers);
        assert.equal(c.status, status, path);
        assert.equal(c.statusMessage, reason, path);
        await c.waitForClose();
        assert.equal(c.body, '');
        assert.equal(c.headers['content-type'], undefined);
      };
      await expectError(`/stream/${STREAM}`, { Authorization: 'Bearer wrong' }, 401, 'You are not authenticated, please check your credentials');
      await expectError(`/stream/${STREAM}`, {}, 401, 'You are not authenticated, please check your credentials');
      await expectError('/stream/does-not-exist', AUTH, 401, 'You are not authorized, please check your credentials');
      await expectError('/stream/does-not-exist', {}, 401, 'You are not authorized, please check your credentials');
      await expectError('/stream/raw', AUTH, 401, 'You are not authorized, please check your credentials');
      await expectError('/stream/stopped', AUTH, 410, 'This live stream is stopped');
      await expectError('/stream/stopped', {}, 410, 'This live stream is stopped');
      await expectError(`/stream/${STREAM}?recover=2025-01-01T00:00:00Z`, AUTH, 500, `Error in stream ${STREAM}: Recovery mode is only possible with a start date.`);
      // Public collection: no credentials needed.
      const pub = await open('/stream/open');
      assert.equal(pub.status, 200);
      // refuseNext: the next N requests, whatever their credentials.
      emu.refuseNext(500);
      emu.refuseNext(401, 1);
      await expectError(`/stream/${STREAM}`, AUTH, 500, `Error in stream ${STREAM}: Emulated failure`);
      await expectError(`/stream/${STREAM}`, AUTH, 401, 'You are not authenticated, please check your credentials');
      const ok = await open(`/stream/${STREAM}`, AUTH);
      assert.equal(ok.status, 200);
      // Stopping the collection ends open connections (clean EOF), then 410; restarting → 200.
      emu.setLive(STREAM, false);
      await ok.waitForClose();
      assert.equal(ok.cleanEnd, true);
      await expectError(`/stream/${STREAM}`, AUTH, 410, 'This live stream is stopped');
      emu.setLive(STREAM, true);
      const again = await open(`/stream/${STREAM}`, AUTH);
      assert.equal(again.status, 200);
      assert.deepEqual(
        emu.requests.map((r) => r.status),
        [401, 401, 401, 401, 401, 410, 410, 500, 200, 500, 401, 200, 410, 200],
      );
    });
  });

  it('resumes strictly after the start position (?from > from > Last-Event-ID, §2.1 parsing)', async () => {
    await withEmulator({}, async (emu, open) => {
      const mains = Array.from({ length: 10 }, () => mainOf(emu.publish({ dependencies: 0 })));
      const id = (i: number): string => (mains[i] as EmittedFrame).id;

      const c1 = await open(`/stream/${STREAM}`, { ...AUTH, 'Last-Event-ID': id(3) });
      await c1.waitForData(6);
      const s1 = await sentinel(emu, c1);
      assert.deepEqual(c1.dataFrames(), [...mains.slice(4), s1]);
      assert.equal(emu.requests[0]?.startId, id(3));

      const c2 = await open(`/stream/${STREAM}?from=${id(7)}`, { ...AUTH, from: id(0), 'Last-Event-ID': id(0) });
      const c3 = await open(`/stream/${STREAM}`, { ...AUTH, from: id(8), 'Last-Event-ID': id(0) });
      const c4 = await open(`/stream/${STREAM}`, { ...AUTH, 'Last-Event-ID': '0' });
      const c5 = await open(`/stream/${STREAM}`, { ...AUTH, 'Last-Event-ID': String(parseId(id(0))[0]) }); // bare ms → live
      const isoStart = new Date(parseId(id(5))[0]).toISOString();
      const c6 = await open(`/stream/${STREAM}?from=${encodeURIComponent(isoStart)}`, AUTH);
      const c7 = await open(`/stream/${STREAM}`, { ...AUTH, 'Last-Event-ID': 'abc-def' }); // XREAD error → nothing
      await emu.waitForConnections(7);
      const s2 = await sentinel(emu, c2);
      for (const c of [c3, c4, c5, c6]) await c.waitFor(() => c.dataFrames().some((f) => f.id === s2.id), 'sentinel 2');
      const all = [...mains, s1, s2];
      assert.deepEqual(c2.dataFrames(), all.slice(8));
      assert.deepEqual(c3.dataFrames(), all.slice(9));
      assert.deepEqual(c4.dataFrames(), all);
      assert.deepEqual(c5.dataFrames(), [s2]);
      const isoStartId = `${Date.parse(isoStart)}-0`;
      assert.deepEqual(c6.dataFrames(), all.filter((f) => cmpId(f.id, isoStartId) > 0));
      assert.equal(emu.requests.find((r) => r.path.includes('from='))?.startId, id(7));
      assert.deepEqual(c7.dataFrames(), []);
      assert.equal(c7.frames[0]?.event, 'connected');
    });
  });

  it('sends dependency frames with the event id before the main frame, deduplicated per connection only', async () => {
    await withEmulator({}, async (emu, open) => {
      const a = emu.publish({ dependencies: 2, sharedDependencyKeys: ['tlp-green'], entityType: 'malware' });
      const b = emu.publish({ dependencies: 1, sharedDependencyKeys: ['tlp-green'], entityType: 'indicator' });
      assert.equal(a.length, 4);
      assert.equal(b.length, 3);
      assert.ok(a.every((f) => f.id === a[0]?.id), 'dependency frames share the triggering event id');
      assert.equal(a[0]?.data, b[0]?.data, 'a shared dependency has identical bytes across events');
      for (const dep of [...a.slice(0, 3), ...b.slice(0, 2)]) {
        assert.equal(dep.event, 'create');
        const env = parse(dep.data);
        assert.deepEqual(Object.keys(env), ['data', 'message', 'origin', 'version']);
        assert.deepEqual(env['origin'], { referer: 'init-dependencies' });
        assert.equal(env['version'], '4');
        assert.ok(['marking-definition', 'identity'].includes(String(obj(env['data'])['type'])));
      }
      const tlpGreen = obj(parse(a[0]?.data ?? '')['data']);
      assert.equal(tlpGreen['name'], 'TLP:GREEN');
      const aMain = obj(parse(mainOf(a).data)['data']);
      assert.ok((aMain['object_marking_refs'] as Json[]).includes(String(tlpGreen['id'])));

      const c1 = await open(`/stream/${STREAM}`, { ...AUTH, 'Last-Event-ID': '0-0' });
      await c1.waitForData(6);
      const s1 = await sentinel(emu, c1);
      // B's shared tlp-green was already sent on this connection → not repeated.
      assert.deepEqual(c1.dataFrames(), [...a, b[1], b[2], s1]);
      // A new connection has an empty cache: the shared dependency is sent again.
      const c2 = await open(`/stream/${STREAM}`, { ...AUTH, 'Last-Event-ID': mainOf(a).id });
      await c2.waitForData(4);
      assert.deepEqual(c2.dataFrames(), [...b, s1]);
      // Oracle: distinct frames only.
      assert.deepEqual(emu.sentFrames(), [...a, b[1], b[2], s1, b[0]]);
      assert.deepEqual(emu.mainFrames(), [mainOf(a), mainOf(b), s1]);
    });
  });

  it('emits heartbeats with the last id, advancing to <now>-0 while idle, and never re-issues an id', async () => {
    await withEmulator({ heartbeatIntervalMs: 100 }, async (emu, open) => {
      // Live connection on an empty stream: heartbeats start after the first (idle) cycle.
      const idle = await open(`/stream/${STREAM}`, AUTH);
      await idle.waitFor(() => idle.heartbeats().length >= 2, '2 heartbeats');
      const mains = [mainOf(emu.publish()), mainOf(emu.publish())];
      const c = await open(`/stream/${STREAM}`, { ...AUTH, 'Last-Event-ID': (mains[0] as EmittedFrame).id });
      await c.waitForData(1);
      assert.deepEqual(c.dataFrames(), [mains[1]]);
      await c.waitFor(() => c.heartbeats().some((h) => cmpId(h.id ?? '0-0', (mains[1] as EmittedFrame).id) > 0), 'an idle-advanced heartbeat', 3000);
      let previous = '0-0';
      for (const hb of [...idle.heartbeats(), ...c.heartbeats()].filter((h) => h.id !== undefined)) {
        const hbId = hb.id ?? '';
        const data = JSON.parse(hb.data ?? '') as Json;
        assert.equal(typeof data, 'string', 'heartbeat data is a JSON string');
        assert.equal(data, new Date(parseId(hbId)[0]).toISOString());
        if (c.heartbeats().includes(hb)) {
          assert.ok(cmpId(hbId, (mains[1] as EmittedFrame).id) >= 0, 'heartbeat never goes back before a delivered event');
          assert.ok(cmpId(hbId, previous) >= 0, 'heartbeat ids are non-decreasing');
          previous = hbId;
        }
      }
      // Any later event sorts strictly after every heartbeat id handed out.
      const later = mainOf(emu.publish());
      for (const hb of [...idle.heartbeats(), ...c.heartbeats()]) assert.ok(cmpId(later.id, hb.id ?? '0-0') > 0);
      await c.waitFor(() => c.dataFrames().length === 2, 'later event');
      // Within one connection, ids on the wire are non-decreasing.
      const wireIds = c.frames.filter((f) => f.id !== undefined).map((f) => f.id ?? '');
      for (let i = 1; i < wireIds.length; i += 1) assert.ok(cmpId(wireIds[i] ?? '', wireIds[i - 1] ?? '') >= 0);
      assert.ok(emu.heartbeatCount >= 3);
    });
  });

  it('pause() holds data frames but not heartbeats; heartbeat for 0-0 carries the current date', async () => {
    await withEmulator({ heartbeatIntervalMs: 100 }, async (emu, open) => {
      const frames = emu.publishMany(3);
      emu.pause();
      const before = Date.now();
      const c = await open(`/stream/${STREAM}`, { ...AUTH, 'Last-Event-ID': '0-0' });
      await c.waitFor(() => c.heartbeats().length >= 2, '2 heartbeats while paused');
      assert.deepEqual(c.dataFrames(), []);
      for (const hb of c.heartbeats()) {
        assert.equal(hb.id, '0-0', 'position must not move past undelivered events');
        const when = Date.parse(JSON.parse(hb.data ?? '') as string);
        assert.ok(when >= before - 1000 && when <= Date.now() + 1000, 'utcDate(0) is "now"');
      }
      emu.resume();
      await c.waitForData(3);
      assert.deepEqual(c.dataFrames(), frames);
    });
  });

  it('dropAfterFrames(n) can cut a dependency group; resuming from that id skips the main event (§4.5)', async () => {
    await withEmulator({}, async (emu, open) => {
      const a = emu.publish({ dependencies: 2, entityType: 'report' });
      const b = emu.publish({ entityType: 'malware' });
      emu.dropAfterFrames(2); // no connection open → applies to the next one
      const c1 = await open(`/stream/${STREAM}`, { ...AUTH, 'Last-Event-ID': '0-0' });
      await c1.waitForClose();
      assert.equal(c1.cleanEnd, false, 'socket destroyed mid-stream, no terminating chunk');
      assert.deepEqual(c1.dataFrames(), a.slice(0, 2));
      assert.deepEqual(emu.sentFrames(), a.slice(0, 2));
      await emu.waitUntil(() => emu.openConnections === 0, 2000, 'connection cleanup');

      // pycti-style resume from the last seen id: A's main frame (same id, exclusive XREAD) is lost.
      const c2 = await open(`/stream/${STREAM}`, { ...AUTH, 'Last-Event-ID': a[1]?.id ?? '' });
      await c2.waitForData(1);
      const s = await sentinel(emu, c2);
      assert.deepEqual(c2.dataFrames(), [...b, s]);

      // Drop on an already open connection, in the middle of a new group.
      emu.dropAfterFrames(1);
      const d = emu.publish({ dependencies: 3 });
      await c2.waitForClose();
      assert.deepEqual(c2.dataFrames(), [...b, s, d[0]]);

      // From the start again: dependencies are re-sent on the new connection.
      const c3 = await open(`/stream/${STREAM}`, { ...AUTH, 'Last-Event-ID': '0-0' });
      await c3.waitForData(a.length + b.length + 1 + d.length);
      assert.deepEqual(c3.dataFrames(), [...a, ...b, s, ...d]);
      assert.deepEqual(emu.sentFrames(), [a[0], a[1], ...b, s, d[0], mainOf(a), d[1], d[2], mainOf(d)]);
    });
  });

  it('dropConnections() aborts every open stream', async () => {
    await withEmulator({}, async (emu, open) => {
      const c1 = await open(`/stream/${STREAM}`, AUTH);
      const c2 = await open(`/stream/${STREAM}`, AUTH);
      await emu.waitForConnections(2);
      assert.equal(emu.openConnections, 2);
      emu.dropConnections();
      await c1.waitForClose();
      await c2.waitForClose();
      assert.equal(c1.cleanEnd, false);
      assert.equal(c2.cleanEnd, false);
      await emu.waitUntil(() => emu.openConnections === 0, 2000, 'cleanup');
      // 'next' arms only the next accepted connection, even while others are open.
      const c3 = await open(`/stream/${STREAM}`, AUTH);
      emu.dropAfterFrames(1, 'next');
      const c4 = await open(`/stream/${STREAM}`, AUTH);
      await emu.waitForConnections(4);
      const f = emu.publish();
      await c4.waitForClose();
      await c3.waitForData(1);
      assert.deepEqual(c4.dataFrames(), f);
      assert.deepEqual(c3.dataFrames(), f);
      assert.equal(c3.closed, false);
    });
  });

  it('forwards varied envelopes byte for byte (non-ASCII, U+2028, 200 KB report) in log order', async () => {
    await withEmulator({}, async (emu, open) => {
      const events = ['create', 'create', 'update', 'create', 'merge', 'delete'] as const;
      const published = emu.publishMany(240, (i) => ({
        event: events[i % events.length] ?? 'create',
        ...(i % 40 === 25 ? { event: 'create' as const, envelopeType: 'update' as const } : {}),
        dependencies: i % 5 === 0 ? 1 : 0,
        ...(i % 7 === 0 ? { sharedDependencyKeys: ['tlp-amber', 'org-acme'] } : {}),
        ...(i === 120 ? { entityType: 'report' as const, size: 200_000, event: 'create' as const } : {}),
      }));
      const c = await open(`/stream/${STREAM}`, { ...AUTH, 'Last-Event-ID': '0-0' });
      const last = mainOf(published);
      await c.waitFor(() => c.dataFrames().some((f) => f.id === last.id && f.data === last.data), 'last event', 5000);
      assert.deepEqual(c.dataFrames(), emu.sentFrames());
      const mains = emu.mainFrames();
      assert.equal(mains.length, 240);
      for (let i = 1; i < mains.length; i += 1) assert.ok(cmpId((mains[i] as EmittedFrame).id, (mains[i - 1] as EmittedFrame).id) > 0, 'log ids strictly increase');
      const texts = c.dataFrames().map((f) => f.data);
      assert.ok(texts.some((t) => t.includes('\u2028')), 'some payload carries a raw U+2028');
      assert.ok(texts.some((t) => t.includes('Кибератака 攻撃 🛡')), 'non-ASCII text');
      assert.ok(texts.some((t) => Buffer.byteLength(t) >= 199_000), 'a ~200 KB frame');
      const types = new Set<string>();
      for (const m of mains) {
        const env = parse(m.data);
        assert.equal(env['version'], '4');
        assert.equal(env['scope'], 'external');
        assert.match(String(env['event_id']), /^\d+-\d+$/);
        const data = obj(env['data']);
        types.add(String(data['type']));
        const ext = obj(obj(data['extensions'])[OCTI_EXT]);
        assert.equal(ext['extension_type'], 'property-extension');
        assert.equal(typeof ext['id'], 'string');
        assert.equal(typeof ext['type'], 'string');
        assert.equal(ext['is_inferred'], false);
        const type = String(env['type']);
        if (type === 'update') {
          const ctx = obj(env['context']);
          assert.ok(Array.isArray(ctx['patch']) && ctx['patch'].length > 0);
          assert.ok(Array.isArray(ctx['reverse_patch']) && ctx['reverse_patch'].length > 0);
          assert.ok(Array.isArray(ctx['changes']));
        } else if (type === 'merge') {
          assert.ok(Array.isArray(obj(env['context'])['sources']));
        } else {
          assert.equal(env['context'], undefined);
        }
      }
      assert.ok(types.size >= 6, `entity types vary: ${[...types].join(',')}`);
      assert.ok(mains.some((m) => m.event === 'create' && parse(m.data)['type'] === 'update'), 'event name differs from envelope type');

      // Deterministic: the same publish sequence on another emulator yields the same objects.
      const twin = await StreamEmulator.start();
      try {
        const twinMains = twin.publishMany(30, (i) => ({ event: events[i % events.length] ?? 'create' }));
        const again = await StreamEmulator.start();
        try {
          const againMains = again.publishMany(30, (i) => ({ event: events[i % events.length] ?? 'create' }));
          const shape = (f: EmittedFrame): string => {
            const d = obj(parse(f.data)['data']);
            return `${f.event}:${String(d['id'])}:${String(d['name'] ?? '')}`;
          };
          assert.deepEqual(againMains.map(shape), twinMains.map(shape));
        } finally {
          await again.close();
        }
      } finally {
        await twin.close();
      }
    });
  });

  it('trims the log to `retention` and silently resumes from the oldest retained entry', async () => {
    await withEmulator({ retention: 5 }, async (emu, open) => {
      const mains = emu.publishMany(10).filter((f) => parse(f.data)['version'] === '4' && parse(f.data)['type'] !== undefined);
      assert.equal(mains.length, 10);
      const c = await open(`/stream/${STREAM}`, { ...AUTH, 'Last-Event-ID': (mains[1] as EmittedFrame).id });
      await c.waitForData(5);
      const info = parse(c.frames[0]?.data ?? '');
      assert.equal(info['firstEventId'], mains[5]?.id);
      assert.equal(info['streamSize'], 5);
      const s = await sentinel(emu, c);
      assert.deepEqual(c.dataFrames(), [...mains.slice(5), s]);
      assert.equal(emu.mainFrames({ retainedOnly: true }).length, 5);
      assert.equal(emu.mainFrames().length, 11);
    });
  });

  it('honours listen-delete: false and with-inferences: true', async () => {
    await withEmulator({}, async (emu, open) => {
      const c1 = mainOf(emu.publish({ entityType: 'malware' }));
      const del = mainOf(emu.publish({ event: 'delete' }));
      const inferred = mainOf(emu.publish({ inferred: true }));
      const hidden = mainOf(emu.publish({ event: 'delete', envelopeType: 'update' }));
      const c2 = mainOf(emu.publish({ entityType: 'indicator' }));
      assert.equal(parse(hidden.data)['type'], 'update');
      assert.equal(obj(obj(obj(parse(inferred.data)['data'])['extensions'])[OCTI_EXT])['is_inferred'], true);
      const noDelete = await open(`/stream/${STREAM}`, { ...AUTH, 'Last-Event-ID': '0-0', 'listen-delete': 'false' });
      const everything = await open(`/stream/${STREAM}`, { ...AUTH, 'Last-Event-ID': '0-0', 'with-inferences': 'true' });
      const s = await sentinel(emu, noDelete);
      await everything.waitFor(() => everything.dataFrames().some((f) => f.id === s.id), 'sentinel');
      assert.deepEqual(noDelete.dataFrames(), [c1, c2, s]);
      assert.deepEqual(everything.dataFrames(), [c1, del, inferred, hidden, c2, s]);
    });
  });

  it('recover: replays current objects as init-create frames with <updated_at>-0 ids, then continues live', async () => {
    await withEmulator({}, async (emu, open) => {
      emu.publish({ entityType: 'malware', sharedDependencyKeys: ['tlp-red'] });
      emu.publish({ entityType: 'indicator' });
      const upd = mainOf(emu.publish({ event: 'update' }));
      const updatedId = String(obj(parse(upd.data)['data'])['id']);
      const recoverMs = parseId(upd.id)[0] + 1;
      const c = await open(`/stream/${STREAM}?recover=${new Date(recoverMs).toISOString()}`, { ...AUTH, 'Last-Event-ID': '0-0' });
      await c.waitForData(3);
      const recovered = c.dataFrames();
      const mains = recovered.filter((f) => obj(parse(f.data)['origin'])['referer'] === 'init-create');
      assert.equal(mains.length, 2);
      for (const f of recovered) {
        const env = parse(f.data);
        assert.deepEqual(Object.keys(env), ['data', 'message', 'origin', 'version']);
        assert.equal(f.event, 'create');
        const data = obj(env['data']);
        const ext = obj(obj(data['extensions'])[OCTI_EXT]);
        if (obj(env['origin'])['referer'] === 'init-create') assert.equal(f.id, `${Date.parse(String(ext['updated_at']))}-0`);
      }
      // Current state: the updated object appears with its post-update bytes.
      const updatedNow = JSON.stringify(obj(parse(upd.data)['data']));
      assert.ok(mains.some((f) => f.data.includes(updatedNow)), 'recovered object has the latest state');
      assert.ok(mains.some((f) => JSON.stringify(obj(parse(f.data)['data'])['id']) === JSON.stringify(updatedId)));
      // The log continues strictly after <recover>-0: let the clock pass it (bounded) before publishing.
      await waitForClockAfter(recoverMs);
      const s = await sentinel(emu, c);
      assert.equal(c.dataFrames().at(-1)?.id, s.id);
      assert.ok(cmpId(s.id, `${recoverMs}-0`) > 0);
    });
  });

  it('writeRaw() reaches every open stream unchanged (malformed / unknown frames)', async () => {
    await withEmulator({}, async (emu, open) => {
      const c = await open(`/stream/${STREAM}`, AUTH);
      await emu.waitForConnections(1);
      emu.writeRaw('id: garbage\nevent: create\ndata: {\n\n');
      emu.writeRaw('id: 1-0\nevent: consumer_metrics\ndata: {"deliveryRate":1}\n\n');
      await c.waitFor(() => c.frames.length >= 3, 'raw frames');
      assert.deepEqual(c.frames.slice(1), [
        { id: 'garbage', event: 'create', data: '{' },
        { id: '1-0', event: 'consumer_metrics', data: '{"deliveryRate":1}' },
      ]);
      assert.deepEqual(emu.sentFrames(), []);
    });
  });
});
