/**
 * The demo's stand-in for an OpenCTI platform: just what the ingester asks of one
 * (/work/shared/reference/opencti-live-stream.md; ingester/platform/, ingester/stream/).
 * The test suite's emulator (test/helpers/stream-emulator.ts) reproduces OpenCTI's faults and
 * corner cases; this one only has to behave, and stay small enough to read.
 *
 * - POST /graphql, bearer token: `about`, `registerConnector`, `pingConnector` (the state the
 *   connector reports is kept and handed back at the next registration), `streamCollection`.
 *   Failures are HTTP 200 with `errors[0].name`, as OpenCTI answers.
 * - GET /stream/<id>, bearer token (else 401, as OpenCTI): a `connected` frame, then every
 *   event after the start position (`?from`, else the `from` header, else `Last-Event-ID`;
 *   none: live events only), then live ones, written only as fast as the reader takes them.
 *   A heartbeat carrying the last id sent follows every quiet period.
 * - Events: ids `<ms>-<seq>`, envelopes `{version, type, scope, message, origin, data, …}`
 *   around small STIX objects; an event may be preceded by a dependency (`origin.referer:
 *   init-dependencies`) that shares its id, as OpenCTI sends them.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { compareStreamIds, isStreamId } from '../shared/opencti/stream-id.js';
import { whenDrained } from './when-drained.js';

export type DemoEventName = 'create' | 'update' | 'delete' | 'merge';

export interface SimulatorOptions {
  token: string;
  /** The one live stream collection it knows. */
  streamId: string;
  /** @defaultValue 5000, OpenCTI's app:live_stream:heartbeat_period */
  heartbeatIntervalMs?: number;
}

interface StoredFrame {
  id: string;
  text: string;
}

interface Reader {
  res: ServerResponse;
  /** Absolute index (see `dropped`) of the next frame to write. */
  next: number;
  lastId: string | undefined;
  draining: boolean;
}

const OCTI = 'extension-definition--ea279b3e-5c71-4632-ac08-831c66a786ba';
const ENTITY_TYPES = [
  ['malware', 'Malware'],
  ['indicator', 'Indicator'],
  ['threat-actor', 'Threat-Actor-Group'],
  ['vulnerability', 'Vulnerability'],
  ['attack-pattern', 'Attack-Pattern'],
] as const;
/** Frames kept for readers that resume; older ones are dropped, as OpenCTI trims its stream. */
const RETAINED_FRAMES = 100_000;
const ORIGIN = { socket: 'query', user_id: '88ec0c6a-13ce-5e39-b486-354fe4a7084f', group_ids: [], organization_ids: [], user_metadata: {} };

export class OpenctiSimulator {
  readonly url: string;
  private readonly frames: StoredFrame[] = [];
  /** Frames trimmed from the front of `frames`. */
  private dropped = 0;
  private readonly readers = new Set<Reader>();
  private readonly states = new Map<string, string | null>();
  private lastMs = 0;
  private seq = 0;
  private published = 0;
  private highestSent = 0;

  private constructor(
    private readonly server: Server,
    private readonly options: SimulatorOptions,
  ) {
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  static async start(options: SimulatorOptions): Promise<OpenctiSimulator> {
    let simulator: OpenctiSimulator | undefined;
    const server = createServer((req, res) => simulator?.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    simulator = new OpenctiSimulator(server, options);
    return simulator;
  }

  /** Frames written to the stream so far, counted once however many readers got them. */
  get sentFrames(): number {
    return this.highestSent;
  }

  /** Adds `count` events (create, update, create, delete, merge…), some with a dependency ahead. */
  publish(count: number): void {
    for (let i = 0; i < count; i++) {
      const n = this.published++;
      const id = this.nextId();
      const event = (['create', 'update', 'create', 'delete', 'merge'] as const)[n % 5]!;
      if (n % 7 === 0) this.store(id, 'create', dependency(n));
      this.store(id, event, envelope(event, n, id));
    }
    if (this.frames.length > RETAINED_FRAMES) {
      const excess = this.frames.length - RETAINED_FRAMES;
      this.frames.splice(0, excess);
      this.dropped += excess;
    }
    for (const reader of this.readers) this.pump(reader);
  }

  async close(): Promise<void> {
    for (const reader of this.readers) reader.res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private nextId(): string {
    const now = Date.now();
    if (now > this.lastMs) {
      this.lastMs = now;
      this.seq = 0;
    } else {
      this.seq += 1;
    }
    return `${this.lastMs}-${this.seq}`;
  }

  private store(id: string, event: DemoEventName, data: unknown): void {
    this.frames.push({ id, text: `id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n` });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    const authorized = req.headers.authorization === `Bearer ${this.options.token}`;
    if (req.method === 'POST' && url.pathname === '/graphql') {
      void this.graphql(req, res, authorized);
    } else if (req.method === 'GET' && url.pathname.startsWith('/stream/')) {
      this.stream(req, res, url, authorized);
    } else {
      res.writeHead(404).end();
    }
  }

  private async graphql(req: IncomingMessage, res: ServerResponse, authorized: boolean): Promise<void> {
    let body = '';
    for await (const chunk of req) body += String(chunk);
    const answer = (payload: unknown): void => {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    };
    if (!authorized) return answer({ errors: [{ name: 'AUTH_REQUIRED', message: 'You must be logged in to do this.' }] });
    let request: { query?: string; variables?: Record<string, unknown> };
    try {
      request = JSON.parse(body) as typeof request;
    } catch {
      return answer({ errors: [{ name: 'BAD_REQUEST', message: 'the body is not JSON' }] });
    }
    const { query = '', variables = {} } = request;
    // One operation per document, told apart by its root field (no GraphQL parser needed for four).
    if (/\babout\b/.test(query)) return answer({ data: { about: { version: '6.9.0 (demo simulator)' } } });
    if (/\bstreamCollection\(/.test(query)) {
      const known = variables.id === this.options.streamId;
      return answer({ data: { streamCollection: known ? { id: variables.id, name: 'Demo stream', description: null, stream_live: true, stream_public: false } : null } });
    }
    if (/\bregisterConnector\(/.test(query)) {
      const { id } = variables.input as { id: string };
      if (!this.states.has(id)) this.states.set(id, null);
      return answer({ data: { registerConnector: { id, connector_state: this.states.get(id), config: null, connector_user_id: ORIGIN.user_id } } });
    }
    if (/\bpingConnector\(/.test(query)) {
      const { id, state } = variables as { id: string; state: string };
      this.states.set(id, state);
      return answer({ data: { pingConnector: { id, connector_state: state, connector_info: variables.connectorInfo } } });
    }
    answer({ errors: [{ name: 'UNSUPPORTED', message: 'the demo simulator does not serve this operation' }] });
  }

  private stream(req: IncomingMessage, res: ServerResponse, url: URL, authorized: boolean): void {
    if (!authorized || url.pathname !== `/stream/${this.options.streamId}`) {
      res.statusMessage = authorized ? 'You are not authorized, please check your credentials' : 'You are not authenticated, please check your credentials';
      res.writeHead(401).end();
      return;
    }
    const start = startId(url.searchParams.get('from') ?? header(req, 'from') ?? header(req, 'last-event-id'));
    res.writeHead(200, { connection: 'keep-alive', 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform' });
    const first = this.frames[0]?.id;
    const last = this.frames.at(-1)?.id;
    const info = { firstEventId: first, lastEventId: last, streamSize: this.frames.length, connectionId: randomUUID() };
    res.write(`event: connected\ndata: ${JSON.stringify(info)}\n\n`);
    const reader: Reader = { res, next: this.firstAfter(start), lastId: start ?? last, draining: false };
    this.readers.add(reader);
    const heartbeat = setInterval(() => {
      // Like OpenCTI: only on a quiet connection, and only once a position is known.
      if (reader.lastId !== undefined && res.writableLength === 0) {
        res.write(`id: ${reader.lastId}\nevent: heartbeat\ndata: ${JSON.stringify(new Date(Number(reader.lastId.split('-')[0])).toISOString())}\n\n`);
      }
    }, this.options.heartbeatIntervalMs ?? 5_000);
    res.on('close', () => {
      clearInterval(heartbeat);
      this.readers.delete(reader);
    });
    this.pump(reader);
  }

  /** Absolute index of the first frame after `start`; undefined `start` means live: after the newest. */
  private firstAfter(start: string | undefined): number {
    const end = this.dropped + this.frames.length;
    if (start === undefined) return end;
    let low = 0;
    let high = this.frames.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if (compareStreamIds(this.frames[middle]!.id, start) <= 0) low = middle + 1;
      else high = middle;
    }
    return this.dropped + low;
  }

  /** Writes what the reader has not had yet, pausing while its socket buffer is full. */
  private pump(reader: Reader): void {
    if (reader.draining) return;
    reader.next = Math.max(reader.next, this.dropped);
    while (reader.next < this.dropped + this.frames.length) {
      const frame = this.frames[reader.next - this.dropped]!;
      reader.next += 1;
      reader.lastId = frame.id;
      this.highestSent = Math.max(this.highestSent, reader.next);
      if (!reader.res.write(frame.text)) {
        reader.draining = true;
        whenDrained(reader.res, () => reader.res.destroyed, () => {
          reader.draining = false;
          this.pump(reader);
        });
        return;
      }
    }
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** OpenCTI's reading of a start position (reference §2.1): '0' is the beginning, an id is itself, a date is `<ms>-0`. */
function startId(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === '0') return '0-0';
  if (isStreamId(value)) return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : `${ms}-0`;
}

function stix(n: number, at: string): { type: string; name: string; object: Record<string, unknown> } {
  const [type, label] = ENTITY_TYPES[n % ENTITY_TYPES.length]!;
  // A handful of entities that events keep coming back to, as updates and deletes do.
  const entity = n % 97;
  const name = `${label} demo-${entity}`;
  const uuid = `00000000-0000-4000-8000-${String(entity).padStart(12, '0')}`;
  const object = {
    id: `${type}--${uuid}`,
    spec_version: '2.1',
    type,
    name,
    created: at,
    modified: at,
    extensions: { [OCTI]: { extension_type: 'property-extension', id: uuid, type: label, created_at: at, updated_at: at, is_inferred: false } },
  };
  return { type: label, name, object };
}

function envelope(event: DemoEventName, n: number, id: string): Record<string, unknown> {
  const at = new Date().toISOString();
  const { type, name, object } = stix(n, at);
  const base = { version: '4', type: event, scope: 'external', origin: ORIGIN, data: object, event_id: id };
  switch (event) {
    case 'create':
      return { ...base, message: `creates a ${type} \`${name}\`` };
    case 'delete':
      return { ...base, message: `deletes a ${type} \`${name}\`` };
    case 'update': {
      const patch = [{ op: 'replace', path: '/description', value: `seen again (event ${n})` }];
      const reversePatch = [{ op: 'replace', path: '/description', value: '' }];
      return { ...base, message: `replaces \`seen again (event ${n})\` in \`Description\``, context: { patch, reverse_patch: reversePatch } };
    }
    case 'merge': {
      const source = stix(n + 1, at).object;
      return { ...base, message: `merges ${type} \`${name} (copy)\` in \`${name}\``, context: { patch: [], reverse_patch: [], sources: [source] } };
    }
  }
}

/** What OpenCTI sends ahead of an event that references an object the reader has not seen. */
function dependency(n: number): Record<string, unknown> {
  const uuid = `00000000-0000-4000-9000-${String(n % 13).padStart(12, '0')}`;
  const name = `Demo author ${n % 13}`;
  return {
    data: { id: `identity--${uuid}`, spec_version: '2.1', type: 'identity', name, identity_class: 'organization', extensions: { [OCTI]: { extension_type: 'property-extension', id: uuid, type: 'Organization', is_inferred: false } } },
    message: `creates a Organization \`${name}\``,
    origin: { referer: 'init-dependencies' },
    version: '4',
  };
}
