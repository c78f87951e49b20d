/**
 * In-process emulator of the OpenCTI SSE live-stream server (GET /stream/:id, GET /stream).
 *
 * Behaviour follows /work/shared/reference/opencti-live-stream.md (§1 endpoints/auth/errors,
 * §2 start position parsing, §3 wire format/heartbeats/envelopes, §4 resumption/retention,
 * §9 checklist) and OpenCTI's sseMiddleware.js. Only Node built-ins are used.
 *
 * Model: one in-memory "Redis stream" (the log). Every connection has its own cursor into the
 * log (like its own XREAD loop), its own dependency cache (like the server's per-connection
 * LRU) and its own heartbeat timer. Frames are written with back-pressure (wait for 'drain').
 * A data frame is recorded in sentFrames() only once Node has handed it to the kernel (write
 * callback without error), so a frame lost in a destroyed socket's user-space buffer is never
 * part of the oracle.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { PlatformApiEmulator } from './platform-emulator.js';
import { EventFactory, type EntityKind, type ObjectState } from './stix-fixtures.js';
import { whenDrained } from '../../demo/when-drained.js';

export type { EntityKind } from './stix-fixtures.js';

export type StreamEventName = 'create' | 'update' | 'delete' | 'merge';

/** One SSE data frame. `data` is the exact single-line JSON text written after "data: ". */
export interface EmittedFrame {
  readonly id: string;
  readonly event: string;
  readonly data: string;
}

export interface PublishSpec {
  /** SSE event name (default 'create'). */
  event?: StreamEventName;
  /** Envelope "type" when it must differ from the event name (§3.2), e.g. event 'create' + type 'update'. */
  envelopeType?: StreamEventName;
  /** Number of fresh dependency objects (alternating marking-definition / organization) sent before the main frame. */
  dependencies?: number;
  /** Named dependency objects shared across events (same STIX id and bytes every time); sent before the fresh ones. */
  sharedDependencyKeys?: string[];
  /** Approximate byte size of the main envelope (default ~1500). */
  size?: number;
  /** is_inferred: only delivered to connections with `with-inferences: true`. */
  inferred?: boolean;
  /** Force the STIX type of a created object (otherwise chosen deterministically from the event index). */
  entityType?: EntityKind;
}

export interface StreamConfig {
  live: boolean;
  public?: boolean;
}

export interface StreamEmulatorOptions {
  /** Accepted bearer token (default 'emulator-token'). The token's user is a BYPASS user unless bypass:false. */
  token?: string;
  /** Stream collections (default { 'live-stream-1': { live: true } }). */
  streams?: Record<string, StreamConfig>;
  /** Heartbeat period per connection (default 5000 ms, like app:live_stream:heartbeat_period). */
  heartbeatIntervalMs?: number;
  /** Max retained log entries (XADD MAXLEN); oldest are trimmed silently. Default: unbounded. */
  retention?: number;
  /** Whether the token's user has BYPASS (needed for /stream and /stream/live). Default true. */
  bypass?: boolean;
  /** Newer-upstream `consumer_metrics` frame after every heartbeat check (§3.6), with these values (true: zeros). Default false. */
  consumerMetrics?: boolean | Partial<ConsumerMetricsValues>;
  /** Serve HTTPS with this key and certificate (PEM) instead of HTTP. */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** Per-connection dependency cache size (server default 5000). */
  dependencyCacheSize?: number;
  /** Seed of the deterministic payload generator. */
  seed?: string;
}

export interface ConsumerMetricsValues {
  deliveryRate: number;
  processingRate: number;
  resolutionRate: number;
  productionRate: number;
  timeLag: number;
  estimatedOutOfDepth: number;
}

export interface RequestRecord {
  /** Request target as received (path + query). */
  readonly path: string;
  readonly method: string;
  readonly headers: Record<string, string | string[] | undefined>;
  /** Response status (0 until answered). */
  status: number;
  /** Status-line reason for error responses. */
  reason?: string;
  /** Raw `last-event-id` request header. */
  readonly lastEventId?: string;
  /** The client's port, to match a request with the connection that carried it (e.g. through a proxy). */
  readonly remotePort?: number;
  /** Start position actually used (after §2.1 parsing), for accepted connections; undefined = live. */
  startId?: string;
  /** connectionId sent in the `connected` frame, for accepted connections. */
  connectionId?: string;
  readonly at: number;
}

type RefusalStatus = 401 | 410 | 500;

interface StreamId {
  readonly ms: number;
  readonly seq: number;
}

interface LogEntry {
  /** Absolute position in the log (0-based count of XADDs). */
  readonly index: number;
  readonly id: string;
  readonly event: StreamEventName;
  readonly inferred: boolean;
  /** Dependency frames then the main frame (last). */
  readonly frames: readonly EmittedFrame[];
  readonly depStixIds: readonly string[];
  readonly mainStixId: string;
  sentMask: number;
  sentExtra: Set<number> | undefined;
}

interface PendingFrame {
  readonly frame: EmittedFrame;
  readonly entry: LogEntry | undefined;
  readonly frameIndex: number;
}

interface Connection {
  readonly connectionId: string;
  readonly streamId: string | undefined; // undefined → raw /stream
  readonly raw: boolean;
  readonly res: ServerResponse;
  readonly listenDelete: boolean;
  readonly withInferences: boolean;
  /** Start id that XREAD would reject (e.g. "abc-def"): only connected + heartbeats, forever. */
  readonly broken: boolean;
  lastEventId: string | undefined;
  cursor: number;
  pending: PendingFrame[];
  pendingPos: number;
  recovery: ObjectState[];
  recoveryPos: number;
  readonly seen: Set<string>;
  waitingDrain: boolean;
  dropAfter: number | undefined;
  dropping: boolean;
  closed: boolean;
  timer: NodeJS.Timeout | undefined;
}

const REASON_UNAUTHENTICATED = 'You are not authenticated, please check your credentials';
const REASON_UNAUTHORIZED = 'You are not authorized, please check your credentials';
const REASON_STOPPED = 'This live stream is stopped';
const REASON_GENERIC_BYPASS = 'Consume generic stream is only authorized for bypass user';
const SUCCESS_HEADERS = {
  Connection: 'keep-alive',
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Access-Control-Allow-Origin': '*',
  'Cache-Control': 'no-cache, no-transform',
} as const;
const DEFAULT_SIZE = 1500;

// ---------------------------------------------------------------------------------------------
// Stream ids and §2.1 parameter parsing
// ---------------------------------------------------------------------------------------------

function parseStreamId(value: string): StreamId | undefined {
  const m = /^(\d+)-(\d+)$/.exec(value);
  if (m === null) return undefined;
  const ms = Number(m[1]);
  const seq = Number(m[2]);
  if (!Number.isSafeInteger(ms) || !Number.isSafeInteger(seq)) return undefined;
  return { ms, seq };
}

function compareIds(a: StreamId, b: StreamId): number {
  return a.ms !== b.ms ? a.ms - b.ms : a.seq - b.seq;
}

const formatId = (id: StreamId): string => `${id.ms}-${id.seq}`;

/** moment(value).utc() validity, approximately: ISO/RFC dates parse, bare long numbers do not. */
function parseDateParam(value: string): number | undefined {
  if (/^\s*\d{5,}\s*$/.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

/** convertParameterToStreamId (§2.1). */
export function convertParameterToStreamId(param: string | undefined): string | undefined {
  if (param === undefined || param === '') return undefined;
  if (param === '0' || param === '0-0') return '0-0';
  if (param.includes('-') && param.split('-').length === 2) return param;
  const ms = parseDateParam(param);
  return ms === undefined ? undefined : `${ms}-0`;
}

/** convertParameterToDate (§2.1), as epoch ms. */
function convertParameterToDateMs(param: string | undefined): number | undefined {
  if (param === undefined || param === '') return undefined;
  if (param === '0' || param === '0-0') return 0;
  if (param.includes('-') && param.split('-').length === 2) {
    const ms = parseInt(param.split('-')[0] ?? '', 10);
    return Number.isFinite(ms) ? ms : Date.now(); // utcDate(NaN) → now
  }
  return parseDateParam(param);
}

/** Heartbeat data: JSON string of the ISO date of the id's ms part; 0/NaN → now (utcDate(0) quirk). */
function heartbeatData(lastEventId: string): string {
  const ms = parseInt(lastEventId.split('-')[0] ?? '', 10);
  const date = new Date(Number.isFinite(ms) && ms !== 0 ? ms : Date.now());
  return Number.isNaN(date.getTime()) ? 'null' : JSON.stringify(date.toISOString());
}

function firstHeader(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** `a || b || c` on strings, like the server's parameter extraction. */
function firstNonEmpty(...values: Array<string | null | undefined>): string | undefined {
  for (const v of values) if (v !== undefined && v !== null && v !== '') return v;
  return undefined;
}

function frameText(id: string | undefined, event: string, data: string): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${data}\n\n`;
}

// ---------------------------------------------------------------------------------------------
// Emulator
// ---------------------------------------------------------------------------------------------

export class StreamEmulator {
  readonly url: string;
  /** GET/POST /stream… requests; GraphQL requests are in `platform.requests`. */
  readonly requests: RequestRecord[] = [];
  /** The GraphQL API (POST /graphql) on the same server. */
  readonly platform: PlatformApiEmulator;

  private readonly server: Server;
  private readonly token: string;
  private readonly bypass: boolean;
  private readonly streams: Map<string, StreamConfig>;
  private readonly heartbeatIntervalMs: number;
  private readonly retention: number | undefined;
  private readonly consumerMetrics: ConsumerMetricsValues | undefined;
  private readonly cacheSize: number;
  private readonly factory: EventFactory;
  private readonly emitter = new EventEmitter();

  private readonly log: LogEntry[] = [];
  private logBase = 0; // absolute index of log[0]
  private logHead = 0; // array index of the first retained entry
  private readonly allMain: EmittedFrame[] = [];
  private readonly sent: EmittedFrame[] = [];
  private readonly sentRecoveryKeys = new Set<string>();
  private readonly connections = new Set<Connection>();
  private readonly refusals: RefusalStatus[] = [];
  private maxIssued: StreamId = { ms: 0, seq: 0 };
  private paused = false;
  private pendingDropForNext: number | undefined;
  private accepted = 0;
  private heartbeats = 0;
  private closing = false;

  private constructor(server: Server, url: string, opts: StreamEmulatorOptions) {
    this.server = server;
    this.url = url;
    this.token = opts.token ?? 'emulator-token';
    this.bypass = opts.bypass ?? true;
    this.streams = new Map(Object.entries(opts.streams ?? { 'live-stream-1': { live: true } }).map(([k, v]) => [k, { ...v }]));
    this.heartbeatIntervalMs = opts.heartbeatIntervalMs ?? 5000;
    this.retention = opts.retention;
    const zeros: ConsumerMetricsValues = { deliveryRate: 0, processingRate: 0, resolutionRate: 0, productionRate: 0, timeLag: 0, estimatedOutOfDepth: 0 };
    this.consumerMetrics = opts.consumerMetrics ? { ...zeros, ...(opts.consumerMetrics === true ? {} : opts.consumerMetrics) } : undefined;
    this.platform = new PlatformApiEmulator({ token: this.token, streams: () => this.streams, notify: () => this.notify() });
    this.cacheSize = opts.dependencyCacheSize ?? 5000;
    this.factory = new EventFactory(opts.seed ?? 'opencti-stream-emulator');
    this.emitter.setMaxListeners(0);
    if (this.retention !== undefined && (!Number.isInteger(this.retention) || this.retention < 1)) {
      throw new Error('retention must be a positive integer');
    }
  }

  static async start(opts: StreamEmulatorOptions = {}): Promise<StreamEmulator> {
    let self: StreamEmulator | undefined;
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      if (self === undefined) {
        res.statusCode = 503;
        res.end();
        return;
      }
      self.handle(req, res);
    };
    const server = opts.tls ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, listener) : createServer(listener);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    self = new StreamEmulator(server, `${opts.tls ? 'https' : 'http'}://127.0.0.1:${address.port}`, opts);
    return self;
  }

  // --- observation ---------------------------------------------------------------------------

  /** Currently open (accepted, not yet closed) SSE responses. */
  get openConnections(): number {
    return this.connections.size;
  }

  /** Total accepted (200) connections since start. */
  get acceptedConnections(): number {
    return this.accepted;
  }

  /** Heartbeat frames written so far (all connections). */
  get heartbeatCount(): number {
    return this.heartbeats;
  }

  /** Number of distinct data frames ever flushed to any connection (= sentFrames().length). */
  get sentCount(): number {
    return this.sent.length;
  }

  /** Every distinct (id, event, data) data frame ever flushed to a connection, in first-sent order. */
  sentFrames(): EmittedFrame[] {
    return this.sent.slice();
  }

  /** One main frame per published (XADDed) event, in log order, dependency frames excluded. */
  mainFrames(opts: { retainedOnly?: boolean } = {}): EmittedFrame[] {
    if (opts.retainedOnly === true) return this.retainedEntries().map((e) => e.frames[e.frames.length - 1] as EmittedFrame);
    return this.allMain.slice();
  }

  /** Ids of the oldest / newest retained log entries (undefined when the log is empty). */
  get firstRetainedId(): string | undefined {
    return this.log[this.logHead]?.id;
  }

  get lastId(): string | undefined {
    return this.log[this.log.length - 1]?.id;
  }

  /** Resolves once predicate() is true; re-evaluated on every emulator state change. */
  waitUntil(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
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
        reject(new Error(`StreamEmulator: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.emitter.off('change', onChange);
      };
      this.emitter.on('change', onChange);
    });
  }

  /** Resolves when the total number of accepted (200) connections reaches n. */
  waitForConnections(n: number, timeoutMs = 5000): Promise<void> {
    return this.waitUntil(() => this.accepted >= n, timeoutMs, `${n} accepted connection(s) (have ${this.accepted})`);
  }

  /** Resolves when at least n requests (any status) have been received. */
  waitForRequests(n: number, timeoutMs = 5000): Promise<void> {
    return this.waitUntil(() => this.requests.length >= n, timeoutMs, `${n} request(s)`);
  }

  // --- publishing ----------------------------------------------------------------------------

  /**
   * Appends ONE event to the log (XADD). Returns all its frames (dependencies then main), i.e.
   * what a fresh connection with listen-delete/with-inferences on would receive. Delete events
   * never carry dependencies (the server does not resolve them for deletes).
   */
  publish(spec: PublishSpec = {}): EmittedFrame[] {
    const event = spec.event ?? 'create';
    const envelopeType = spec.envelopeType ?? event;
    const noDeps = event === 'delete' || envelopeType === 'delete';
    const idParts = this.nextEventId();
    const id = formatId(idParts);
    const index = this.logBase + this.log.length;
    const built = this.factory.build(index, idParts.ms, {
      envelopeType,
      freshDependencies: noDeps ? 0 : Math.max(0, spec.dependencies ?? 0),
      sharedDependencyKeys: noDeps ? [] : (spec.sharedDependencyKeys ?? []),
      size: spec.size ?? DEFAULT_SIZE,
      explicitSize: spec.size !== undefined,
      inferred: spec.inferred ?? false,
      entityType: spec.entityType,
    });
    const frames: EmittedFrame[] = built.dependencies.map((d) => ({ id, event: 'create', data: d.envelope }));
    const main: EmittedFrame = { id, event, data: built.envelope };
    frames.push(main);
    const entry: LogEntry = {
      index,
      id,
      event,
      inferred: spec.inferred ?? false,
      frames,
      depStixIds: built.dependencies.map((d) => d.stixId),
      mainStixId: built.stixId,
      sentMask: 0,
      sentExtra: undefined,
    };
    this.log.push(entry);
    this.allMain.push(main);
    this.trim();
    for (const conn of this.connections) this.pump(conn);
    this.notify();
    return frames.slice();
  }

  publishMany(n: number, spec?: PublishSpec | ((i: number) => PublishSpec)): EmittedFrame[] {
    const out: EmittedFrame[] = [];
    for (let i = 0; i < n; i += 1) {
      const s = typeof spec === 'function' ? spec(i) : spec;
      for (const f of this.publish(s)) out.push(f);
    }
    return out;
  }

  // --- fault injection -----------------------------------------------------------------------

  /** Destroys the socket of every open SSE response (no terminating chunk: the client sees an abort). */
  dropConnections(): void {
    for (const conn of [...this.connections]) this.destroy(conn);
  }

  /**
   * Destroys connections after they write n more data frames (dependency frames count
   * individually, so a drop can fall inside a group sharing one id). The socket is destroyed
   * only after the n-th frame has been flushed to the kernel, so that frame reaches the client.
   * target 'open': every currently open connection; 'next': the next accepted connection;
   * 'auto' (default): the open ones if any, else the next accepted one.
   */
  dropAfterFrames(n: number, target: 'auto' | 'open' | 'next' = 'auto'): void {
    const budget = Math.max(0, Math.floor(n));
    if (target === 'next' || (target === 'auto' && this.connections.size === 0)) {
      this.pendingDropForNext = budget;
      return;
    }
    for (const conn of [...this.connections]) {
      conn.dropAfter = budget;
      if (budget === 0) this.destroy(conn);
    }
  }

  /** The next `count` GET /stream… requests are answered with that status (reason per §1.3, empty body). */
  refuseNext(status: RefusalStatus, count = 1): void {
    for (let i = 0; i < count; i += 1) this.refusals.push(status);
  }

  /** Starts/stops a collection. Stopping ends its open connections (clean EOF); new ones get 410. */
  setLive(streamId: string, live: boolean): void {
    const cfg = this.streams.get(streamId);
    if (cfg === undefined) this.streams.set(streamId, { live });
    else cfg.live = live;
    if (!live) {
      for (const conn of [...this.connections]) {
        if (conn.streamId === streamId) this.endGracefully(conn);
      }
    }
  }

  /** Adds (or replaces) a stream collection. */
  setStream(streamId: string, config: StreamConfig): void {
    this.streams.set(streamId, { ...config });
  }

  /** Writes arbitrary text to every open SSE response (not recorded in sentFrames). */
  writeRaw(text: string): void {
    for (const conn of this.connections) {
      if (!conn.closed && !conn.dropping) conn.res.write(text);
    }
  }

  /** Stops writing data frames (heartbeats continue); events accumulate per connection. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const conn of this.connections) this.pump(conn);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    for (const conn of [...this.connections]) this.destroy(conn);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.emitter.removeAllListeners();
  }

  // --- HTTP handling -------------------------------------------------------------------------

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const target = req.url ?? '/';
    if (req.method === 'POST' && new URL(target, 'http://emulator.invalid').pathname === '/graphql') {
      this.platform.handle(req, res);
      return;
    }
    const record: RequestRecord = {
      path: target,
      method: req.method ?? 'GET',
      headers: { ...req.headers },
      status: 0,
      ...(firstHeader(req, 'last-event-id') !== undefined ? { lastEventId: firstHeader(req, 'last-event-id') } : {}),
      ...(req.socket.remotePort !== undefined ? { remotePort: req.socket.remotePort } : {}),
      at: Date.now(),
    };
    this.requests.push(record);
    const url = new URL(target, 'http://emulator.invalid');
    const path = url.pathname;
    try {
      const connectionMatch = /^\/stream\/connection\/([^/]+)\/?$/.exec(path);
      if (req.method === 'POST' && connectionMatch !== null) {
        this.handleConnectionPost(req, res, record, decodeURIComponent(connectionMatch[1] ?? ''));
        return;
      }
      const streamMatch = /^\/stream(?:\/([^/]+))?\/?$/.exec(path);
      if (req.method !== 'GET' || streamMatch === null) {
        this.sendError(res, record, 404, 'Not Found');
        return;
      }
      const streamId = streamMatch[1] !== undefined ? decodeURIComponent(streamMatch[1]) : undefined;
      const refusal = this.refusals.shift();
      if (refusal !== undefined) {
        const reason =
          refusal === 401 ? REASON_UNAUTHENTICATED
            : refusal === 410 ? REASON_STOPPED
              : streamId !== undefined ? `Error in stream ${streamId}: Emulated failure` : 'Error in stream: Emulated failure';
        this.sendError(res, record, refusal, reason);
        return;
      }
      const authenticated = this.isAuthenticated(req);
      if (streamId === undefined) {
        // Raw stream: authenticate → BYPASS check.
        if (!authenticated) return this.sendError(res, record, 401, REASON_UNAUTHENTICATED);
        if (!this.bypass) return this.sendError(res, record, 401, REASON_GENERIC_BYPASS);
        this.accept(req, res, record, url, undefined);
        return;
      }
      // authenticateForPublic → computeUserAndCollection (unauthenticated requests run as SYSTEM).
      if (streamId === 'live') {
        if (authenticated && !this.bypass) return this.sendError(res, record, 401, REASON_UNAUTHORIZED);
        if (!authenticated) return this.sendError(res, record, 401, REASON_UNAUTHENTICATED);
        this.accept(req, res, record, url, streamId);
        return;
      }
      const cfg = this.streams.get(streamId);
      if (cfg === undefined) return this.sendError(res, record, 401, REASON_UNAUTHORIZED);
      if (!cfg.live) return this.sendError(res, record, 410, REASON_STOPPED);
      if (cfg.public !== true && !authenticated) return this.sendError(res, record, 401, REASON_UNAUTHENTICATED);
      this.accept(req, res, record, url, streamId);
    } catch (err) {
      if (!res.headersSent) {
        this.sendError(res, record, 500, `Error in stream: ${err instanceof Error ? err.message : String(err)}`);
      } else {
        res.destroy();
      }
    }
  }

  private isAuthenticated(req: IncomingMessage): boolean {
    const auth = firstHeader(req, 'authorization');
    if (auth === undefined) return false;
    const m = /^Bearer\s+(.+)$/i.exec(auth.trim());
    return m !== null && m[1] === this.token;
  }

  private sendError(res: ServerResponse, record: RequestRecord, status: number, reason: string): void {
    record.status = status;
    record.reason = reason;
    res.statusCode = status;
    res.statusMessage = reason;
    res.end();
    this.notify();
  }

  private handleConnectionPost(req: IncomingMessage, res: ServerResponse, record: RequestRecord, id: string): void {
    req.resume();
    if (!this.isAuthenticated(req)) return this.sendError(res, record, 401, REASON_UNAUTHENTICATED);
    const found = [...this.connections].some((c) => c.connectionId === id);
    if (!found) return this.sendError(res, record, 401, 'This is not your connection');
    record.status = 200;
    const body = JSON.stringify({ message: 'ok' });
    res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
    this.notify();
  }

  private accept(req: IncomingMessage, res: ServerResponse, record: RequestRecord, url: URL, streamId: string | undefined): void {
    const raw = streamId === undefined;
    const query = url.searchParams;
    const startParam = firstNonEmpty(query.get('from'), firstHeader(req, 'from'), firstHeader(req, 'last-event-id'));
    const startStreamId = convertParameterToStreamId(startParam);
    const startMs = convertParameterToDateMs(startParam);
    let recoverMs: number | undefined;
    let recoverStreamId: string | undefined;
    let listenDelete = true;
    let withInferences = raw; // raw stream has no inference filter
    if (!raw) {
      const recoverParam = firstNonEmpty(query.get('recover'), firstHeader(req, 'recover'), firstHeader(req, 'recover-date'));
      recoverMs = convertParameterToDateMs(recoverParam);
      recoverStreamId = convertParameterToStreamId(recoverParam);
      listenDelete = firstNonEmpty(query.get('listen-delete'), firstHeader(req, 'listen-delete')) !== 'false';
      withInferences = firstNonEmpty(query.get('with-inferences'), firstHeader(req, 'with-inferences')) === 'true';
      // no-dependencies / no-relationships: the emulator's dependencies are all "referenced objects",
      // which the server sends regardless of that option, so it has no effect here.
      if (recoverMs !== undefined && startMs === undefined) {
        this.sendError(res, record, 500, `Error in stream ${streamId}: Recovery mode is only possible with a start date.`);
        return;
      }
    }
    const recoveryMode = recoverMs !== undefined && startMs !== undefined && recoverMs > startMs;
    const processorStart = recoveryMode ? recoverStreamId : startStreamId;
    const parsedProcessorStart = processorStart !== undefined ? parseStreamId(processorStart) : undefined;
    const broken = processorStart !== undefined && parsedProcessorStart === undefined;

    let recovery: ObjectState[] = [];
    if (recoveryMode && startMs !== undefined && recoverMs !== undefined) {
      const from = startMs;
      const to = recoverMs;
      recovery = this.factory
        .objects()
        .filter((o) => o.updatedMs >= from && o.updatedMs <= to && (withInferences || !o.inferred))
        .sort((a, b) => a.updatedMs - b.updatedMs || (a.internalId < b.internalId ? -1 : a.internalId > b.internalId ? 1 : 0));
    }

    const conn: Connection = {
      connectionId: randomUUID(),
      streamId,
      raw,
      res,
      listenDelete,
      withInferences,
      broken,
      lastEventId: startStreamId,
      cursor: parsedProcessorStart === undefined ? this.endAbs : this.positionAfter(parsedProcessorStart),
      pending: [],
      pendingPos: 0,
      recovery,
      recoveryPos: 0,
      seen: new Set<string>(),
      waitingDrain: false,
      dropAfter: this.pendingDropForNext,
      dropping: false,
      closed: false,
      timer: undefined,
    };
    this.pendingDropForNext = undefined;
    record.status = 200;
    if (startStreamId !== undefined) record.startId = startStreamId;
    record.connectionId = conn.connectionId;

    res.writeHead(200, SUCCESS_HEADERS);
    res.write(frameText(undefined, 'connected', JSON.stringify({ ...this.streamInfo(), connectionId: conn.connectionId })));
    this.connections.add(conn);
    this.accepted += 1;
    // ServerResponse 'close': response ended or underlying socket closed (client gone).
    res.once('close', () => this.cleanup(conn));
    conn.timer = setInterval(() => this.heartbeatTick(conn), this.heartbeatIntervalMs);
    conn.timer.unref();
    this.notify();
    if (conn.dropAfter === 0) {
      this.destroy(conn);
      return;
    }
    this.pump(conn);
  }

  /** XINFO STREAM equivalent. Empty log: ids/dates of "now" (as OpenCTI's empty-stream info). */
  private streamInfo(): Record<string, string | number> {
    const first = this.log[this.logHead];
    const last = this.log[this.log.length - 1];
    if (first === undefined || last === undefined) {
      const now = this.issueNowId();
      const nowDate = new Date(now.ms).toISOString();
      return { lastEventId: formatId(now), firstEventId: formatId(now), firstEventDate: nowDate, lastEventDate: nowDate, streamSize: 0 };
    }
    const date = (id: string): string => new Date(parseInt(id.split('-')[0] ?? '0', 10)).toISOString();
    return {
      lastEventId: last.id,
      firstEventId: first.id,
      firstEventDate: date(first.id),
      lastEventDate: date(last.id),
      streamSize: this.log.length - this.logHead,
    };
  }

  // --- log -----------------------------------------------------------------------------------

  private get firstAbs(): number {
    return this.logBase + this.logHead;
  }

  private get endAbs(): number {
    return this.logBase + this.log.length;
  }

  private entryAt(abs: number): LogEntry | undefined {
    return this.log[abs - this.logBase];
  }

  private retainedEntries(): LogEntry[] {
    return this.log.slice(this.logHead);
  }

  /** Absolute index of the first retained entry whose id is strictly greater than `after` (XREAD semantics). */
  private positionAfter(after: StreamId): number {
    let lo = this.logHead;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = this.log[mid] as LogEntry;
      const p = parseStreamId(e.id) as StreamId;
      if (compareIds(p, after) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return this.logBase + lo;
  }

  private trim(): void {
    if (this.retention === undefined) return;
    while (this.log.length - this.logHead > this.retention) this.logHead += 1;
    if (this.logHead > 1024 && this.logHead * 2 > this.log.length) {
      this.log.splice(0, this.logHead);
      this.logBase += this.logHead;
      this.logHead = 0;
    }
  }

  /** A new id strictly greater than every id issued so far (events, heartbeat advances, empty-info). */
  private nextEventId(): StreamId {
    const now = Date.now();
    const id = now > this.maxIssued.ms ? { ms: now, seq: 0 } : { ms: this.maxIssued.ms, seq: this.maxIssued.seq + 1 };
    this.maxIssued = id;
    return id;
  }

  /** `<now>-0`, registered as issued so later events sort after it. */
  private issueNowId(): StreamId {
    const id = { ms: Date.now(), seq: 0 };
    if (compareIds(id, this.maxIssued) > 0) this.maxIssued = id;
    return id;
  }

  // --- per-connection delivery ---------------------------------------------------------------

  private pump(conn: Connection): void {
    if (conn.closed || conn.dropping || conn.waitingDrain) return;
    while (!this.paused) {
      const pf = this.nextFrame(conn);
      if (pf === undefined) return;
      let dropNow = false;
      if (conn.dropAfter !== undefined) {
        conn.dropAfter -= 1;
        dropNow = conn.dropAfter <= 0;
      }
      const ok = this.writeDataFrame(conn, pf, dropNow);
      if (dropNow) {
        conn.dropping = true;
        return;
      }
      if (!ok) {
        this.resumeWhenDrained(conn);
        return;
      }
    }
  }

  /** Pumps again once the response's buffer drained (or the connection went). */
  private resumeWhenDrained(conn: Connection): void {
    conn.waitingDrain = true;
    whenDrained(conn.res, () => conn.closed || conn.dropping, () => {
      conn.waitingDrain = false;
      this.pump(conn);
    });
  }

  private nextFrame(conn: Connection): PendingFrame | undefined {
    if (conn.pendingPos < conn.pending.length) return conn.pending[conn.pendingPos++];
    conn.pending = [];
    conn.pendingPos = 0;
    while (conn.recoveryPos < conn.recovery.length) {
      const state = conn.recovery[conn.recoveryPos++] as ObjectState;
      this.recoveryFrames(conn, state);
      if (conn.pending.length > 0) return conn.pending[conn.pendingPos++];
    }
    // A start id XREAD rejects (e.g. "abc-def"): the processor never reads anything (§2.1).
    if (conn.broken) return undefined;
    while (conn.cursor < this.endAbs) {
      if (conn.cursor < this.firstAbs) conn.cursor = this.firstAbs; // trimmed away: silently skip
      const entry = this.entryAt(conn.cursor) as LogEntry;
      conn.cursor += 1;
      this.entryFrames(conn, entry);
      if (conn.pending.length > 0) return conn.pending[conn.pendingPos++];
      conn.lastEventId = entry.id; // filtered out: the position still moves past it
    }
    return undefined;
  }

  private rememberSeen(conn: Connection, stixId: string): void {
    if (conn.seen.has(stixId)) conn.seen.delete(stixId);
    conn.seen.add(stixId);
    if (conn.seen.size > this.cacheSize) {
      const oldest = conn.seen.values().next();
      if (oldest.done !== true) conn.seen.delete(oldest.value);
    }
  }

  private entryFrames(conn: Connection, entry: LogEntry): void {
    const mainIndex = entry.frames.length - 1;
    const main = entry.frames[mainIndex] as EmittedFrame;
    if (conn.raw) {
      conn.pending.push({ frame: main, entry, frameIndex: mainIndex });
      return;
    }
    if (entry.inferred && !conn.withInferences) return;
    if (entry.event === 'delete') {
      if (conn.listenDelete) {
        conn.pending.push({ frame: main, entry, frameIndex: mainIndex });
        this.rememberSeen(conn, entry.mainStixId);
      }
      return;
    }
    for (let i = 0; i < mainIndex; i += 1) {
      const stixId = entry.depStixIds[i] as string;
      if (conn.seen.has(stixId)) continue;
      this.rememberSeen(conn, stixId);
      conn.pending.push({ frame: entry.frames[i] as EmittedFrame, entry, frameIndex: i });
    }
    conn.pending.push({ frame: main, entry, frameIndex: mainIndex });
    this.rememberSeen(conn, entry.mainStixId);
  }

  private recoveryFrames(conn: Connection, state: ObjectState): void {
    if (conn.seen.has(state.stixId)) return;
    const id = `${state.updatedMs}-0`;
    for (const dep of state.dependencies) {
      if (conn.seen.has(dep.stixId)) continue;
      this.rememberSeen(conn, dep.stixId);
      conn.pending.push({ frame: { id, event: 'create', data: dep.envelope }, entry: undefined, frameIndex: -1 });
    }
    conn.pending.push({ frame: { id, event: 'create', data: this.factory.recoveryEnvelope(state) }, entry: undefined, frameIndex: -1 });
    this.rememberSeen(conn, state.stixId);
  }

  private writeDataFrame(conn: Connection, pf: PendingFrame, destroyAfterFlush: boolean): boolean {
    const { frame } = pf;
    conn.lastEventId = frame.id;
    return conn.res.write(frameText(frame.id, frame.event, frame.data), (err) => {
      if (err === undefined || err === null) this.recordSent(pf);
      if (destroyAfterFlush) this.destroy(conn);
    });
  }

  private recordSent(pf: PendingFrame): void {
    const { entry, frameIndex, frame } = pf;
    if (entry !== undefined) {
      if (frameIndex < 30) {
        const bit = 1 << frameIndex;
        if ((entry.sentMask & bit) !== 0) return;
        entry.sentMask |= bit;
      } else {
        entry.sentExtra ??= new Set<number>();
        if (entry.sentExtra.has(frameIndex)) return;
        entry.sentExtra.add(frameIndex);
      }
    } else {
      const key = `${frame.id}\u0000${frame.event}\u0000${frame.data}`;
      if (this.sentRecoveryKeys.has(key)) return;
      this.sentRecoveryKeys.add(key);
    }
    this.sent.push(frame);
    this.notify();
  }

  private caughtUp(conn: Connection): boolean {
    return (
      conn.pendingPos >= conn.pending.length &&
      conn.recoveryPos >= conn.recovery.length &&
      (conn.broken || conn.cursor >= this.endAbs)
    );
  }

  private heartbeatTick(conn: Connection): void {
    if (conn.closed || conn.dropping) return;
    // End of an (idle) XREAD cycle: the position advances to <now>-0 (§3.4).
    if (!conn.broken && this.caughtUp(conn)) {
      const now = { ms: Date.now(), seq: 0 };
      const current = conn.lastEventId !== undefined ? parseStreamId(conn.lastEventId) : undefined;
      if (current === undefined || compareIds(now, current) > 0) {
        conn.lastEventId = formatId(this.issueNowId());
      }
    }
    if (conn.lastEventId === undefined) return;
    if (conn.res.writableLength === 0 && !conn.waitingDrain) {
      conn.res.write(frameText(conn.lastEventId, 'heartbeat', heartbeatData(conn.lastEventId)));
      this.heartbeats += 1;
    }
    if (this.consumerMetrics) {
      conn.res.write(frameText(conn.lastEventId, 'consumer_metrics', JSON.stringify(this.consumerMetrics)));
    }
    this.notify();
  }

  private endGracefully(conn: Connection): void {
    if (conn.closed) return;
    conn.closed = true;
    this.stopTimer(conn);
    this.connections.delete(conn);
    conn.res.end();
    this.notify();
  }

  private destroy(conn: Connection): void {
    conn.dropping = true;
    this.stopTimer(conn);
    conn.res.socket?.destroy();
    conn.res.destroy();
    this.cleanup(conn);
  }

  private cleanup(conn: Connection): void {
    this.stopTimer(conn);
    if (conn.closed && !this.connections.has(conn)) return;
    conn.closed = true;
    this.connections.delete(conn);
    this.notify();
  }

  private stopTimer(conn: Connection): void {
    if (conn.timer !== undefined) {
      clearInterval(conn.timer);
      conn.timer = undefined;
    }
  }

  private notify(): void {
    this.emitter.emit('change');
  }
}
