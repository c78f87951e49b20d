/**
 * The webhook end of fault tests: an HTTP server on 127.0.0.1:<port 0> that records every
 * request byte for byte and answers according to a fault script.
 *
 * Observable oracles it offers: the raw body and headers of each request, what it answered
 * (`status`), and per `webhook-id` how many 2xx answers were given. Faults are chosen per
 * request — by count (`failNext`) or by content (`setFaults`, e.g. by `webhook-id`) — and can
 * answer any status, delay, reset the socket, or never answer.
 *
 * Waits are driven by the server's own answer events with a bounded timeout, never by
 * polling the request list.
 */
import { EventEmitter } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions as HttpsServerOptions } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { scaled } from './wait.js';

export interface RecordedRequest {
  /** Position in {@link RecordingReceiver.requests}, in order of body completion. */
  index: number;
  method: string;
  /** Request target as sent, including any query string. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** Body decoded as UTF-8. */
  body: string;
  /** Body exactly as received. */
  bodyBytes: Buffer;
  /** `Date.now()` when the body was complete. */
  receivedAt: number;
  /** Client port of the connection; equal ports on consecutive requests mean keep-alive reuse. */
  remotePort: number | undefined;
  /** Common name of the client certificate, over TLS when the client presented one. */
  clientCertificateCN?: string;
  /** What we answered; undefined if destroyed, hung, or the client went away first. */
  status?: number;
  /**
   * How many requests had been received when the answer was written: a request whose
   * `index` is at least this arrived after the answer (ordering oracles).
   */
  answeredBefore?: number;
}

export interface Fault {
  /** @defaultValue 200 */
  status?: number;
  /** Wait this long (ms, not scaled) before acting. */
  delayMs?: number;
  /** Extra response headers. */
  headers?: Record<string, string>;
  /** @defaultValue `{"ok":true}` for 2xx, `{"ok":false}` otherwise */
  body?: string;
  /** Send the body in two halves this long apart (ms, not scaled), as a server streaming its answer does. */
  splitBodyMs?: number;
  /** Destroy the socket without answering (after `delayMs`). */
  destroy?: boolean;
  /** Never answer; the socket is destroyed by {@link RecordingReceiver.close}. */
  hang?: boolean;
}

export type FaultScript = (req: RecordedRequest) => Fault | undefined;

export interface RecordingReceiverOptions {
  /** Path used to build {@link RecordingReceiver.url}; every path is accepted and recorded. @defaultValue '/webhook' */
  path?: string;
  /** Called for every request once its body is recorded, before it is answered. */
  onRequest?: (r: RecordedRequest) => void;
  /** Serve HTTPS with these options (key, cert, and for mTLS requestCert, ca, rejectUnauthorized); the URL is then https://. */
  tls?: HttpsServerOptions;
}

export class RecordingReceiver {
  readonly url: string;
  readonly requests: RecordedRequest[] = [];
  private script: FaultScript | undefined;
  private readonly queued: Fault[] = [];
  private readonly deliveredCounts = new Map<string, number>();
  private deliveredTotal = 0;
  private readonly changes = new EventEmitter();
  private readonly pending = new Set<ServerResponse>();
  /** Requests held by a `hang` fault, each with how to answer it later ({@link releaseHung}). */
  private readonly hung = new Map<ServerResponse, (fault: Fault) => void>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private current = 0;
  private peak = 0;
  private closed = false;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    private readonly onRequest: ((r: RecordedRequest) => void) | undefined,
    path: string,
    scheme: 'http' | 'https',
  ) {
    const { port } = server.address() as AddressInfo;
    this.url = `${scheme}://127.0.0.1:${port}${path}`;
    this.changes.setMaxListeners(0);
  }

  static async start(opts: RecordingReceiverOptions = {}): Promise<RecordingReceiver> {
    const server: Server = opts.tls ? createHttpsServer(opts.tls) : createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: 0, host: '127.0.0.1' }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const receiver = new RecordingReceiver(server, opts.onRequest, opts.path ?? '/webhook', opts.tls ? 'https' : 'http');
    server.on('request', (req: IncomingMessage, res: ServerResponse) => receiver.handle(req, res));
    return receiver;
  }

  /** Fault script called for every request; `undefined` (or no script) answers 200 `{"ok":true}`. */
  setFaults(script: FaultScript | undefined): void {
    this.script = script;
  }

  /** The next `count` requests get `fault`; this takes precedence over {@link setFaults}. */
  failNext(count: number, fault: Fault): void {
    for (let i = 0; i < count; i++) this.queued.push(fault);
  }

  /** Answers every request a `hang` fault holds, now, with `fault` (default 200): a stalled endpoint that comes back. */
  releaseHung(fault: Fault = {}): void {
    const held = [...this.hung.values()];
    this.hung.clear();
    for (const answer of held) answer(fault);
  }

  /** Requests answered 2xx. */
  delivered(): RecordedRequest[] {
    return this.requests.filter((r) => isSuccess(r.status));
  }

  /** `webhook-id` header → number of 2xx answers given for it. */
  deliveredIds(): Map<string, number> {
    return new Map(this.deliveredCounts);
  }

  /** Requests in flight now (received but not yet answered or dropped). */
  get inFlight(): number {
    return this.current;
  }

  /** Highest number of requests in flight at once since start. */
  get peakInFlight(): number {
    return this.peak;
  }

  /** Resolves once at least `n` requests were answered 2xx. `timeoutMs` is scaled. */
  waitForCount(n: number, timeoutMs: number): Promise<void> {
    return this.waitUntil(
      () => (this.deliveredTotal >= n ? undefined : `${this.deliveredTotal} of ${n} answered 2xx`),
      timeoutMs,
      `${n} requests answered 2xx`,
    );
  }

  /** Resolves once every id was answered 2xx at least once. `timeoutMs` is scaled. */
  waitForIds(ids: Iterable<string>, timeoutMs: number): Promise<void> {
    const wanted = [...new Set(ids)];
    return this.waitUntil(
      () => {
        const missing = wanted.filter((id) => !this.deliveredCounts.has(id));
        if (missing.length === 0) return undefined;
        const shown = missing.slice(0, 10).join(', ');
        return `${missing.length} of ${wanted.length} ids missing (first ${Math.min(10, missing.length)}: ${shown})`;
      },
      timeoutMs,
      `${wanted.length} webhook-ids answered 2xx`,
    );
  }

  /** Stops listening, destroys hung and delayed requests and all keep-alive sockets. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.closed = true;
      for (const timer of this.timers) clearTimeout(timer);
      this.timers.clear();
      for (const res of this.pending) res.destroy();
      this.pending.clear();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
      this.changes.emit('change');
    });
    return this.closing;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.current += 1;
    this.peak = Math.max(this.peak, this.current);
    let counted = true;
    const done = (): void => {
      if (!counted) return;
      counted = false;
      this.current -= 1;
    };
    res.once('close', done);

    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const bodyBytes = Buffer.concat(chunks);
      const record: RecordedRequest = {
        index: this.requests.length,
        method: req.method ?? '',
        path: req.url ?? '',
        headers: { ...req.headers },
        body: bodyBytes.toString('utf8'),
        bodyBytes,
        receivedAt: Date.now(),
        remotePort: req.socket.remotePort,
      };
      const peer = 'getPeerCertificate' in req.socket ? (req.socket as TLSSocket).getPeerCertificate() : undefined;
      if (peer?.subject?.CN) record.clientCertificateCN = String(peer.subject.CN);
      this.requests.push(record);
      this.onRequest?.(record);
      const fault = this.queued.shift() ?? this.script?.(record);
      this.respond(record, req, res, fault ?? {});
    });
  }

  private respond(record: RecordedRequest, req: IncomingMessage, res: ServerResponse, fault: Fault): void {
    if (this.closed) {
      res.destroy();
      return;
    }
    if (fault.hang === true) {
      this.pending.add(res);
      this.hung.set(res, (answer) => {
        this.pending.delete(res);
        this.respond(record, req, res, answer);
      });
      res.once('close', () => {
        this.pending.delete(res);
        this.hung.delete(res);
      });
      return;
    }
    const act = (): void => {
      if (fault.destroy === true) {
        req.socket.destroy();
        return;
      }
      // The client may have given up during the delay; an answer it never saw is not a delivery.
      if (res.destroyed || req.socket.destroyed) return;
      const status = fault.status ?? 200;
      const body = fault.body ?? (isSuccess(status) ? '{"ok":true}' : '{"ok":false}');
      res.writeHead(status, { 'content-type': 'application/json', ...fault.headers });
      record.status = status;
      record.answeredBefore = this.requests.length;
      if (fault.splitBodyMs === undefined) res.end(body);
      else this.endInTwoHalves(res, body, fault.splitBodyMs);
      if (isSuccess(status)) {
        this.deliveredTotal += 1;
        const id = headerValue(record.headers['webhook-id']);
        if (id !== undefined) this.deliveredCounts.set(id, (this.deliveredCounts.get(id) ?? 0) + 1);
      }
      this.changes.emit('change');
    };
    if (fault.delayMs === undefined || fault.delayMs <= 0) {
      act();
      return;
    }
    this.pending.add(res);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.pending.delete(res);
      act();
    }, fault.delayMs);
    this.timers.add(timer);
  }

  private endInTwoHalves(res: ServerResponse, body: string, gapMs: number): void {
    const half = Math.floor(body.length / 2);
    res.write(body.slice(0, half));
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!res.destroyed) res.end(body.slice(half));
    }, gapMs);
    this.timers.add(timer);
  }

  /** `check` returns undefined when satisfied, else a description of what is still missing. */
  private waitUntil(check: () => string | undefined, timeoutMs: number, what: string): Promise<void> {
    const ms = scaled(timeoutMs);
    return new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.changes.off('change', onChange);
      };
      const onChange = (): void => {
        const missing = check();
        if (missing === undefined) {
          cleanup();
          resolve();
        } else if (this.closed) {
          cleanup();
          reject(new Error(`receiver closed while waiting for ${what}: ${missing}; ${this.summary()}`));
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${ms} ms waiting for ${what}: ${check() ?? 'satisfied'}; ${this.summary()}`));
      }, ms);
      this.changes.on('change', onChange);
      onChange();
    });
  }

  private summary(): string {
    const statuses = new Map<string, number>();
    for (const r of this.requests) {
      const key = r.status === undefined ? 'none' : String(r.status);
      statuses.set(key, (statuses.get(key) ?? 0) + 1);
    }
    const byStatus = [...statuses].map(([k, v]) => `${k}×${v}`).join(', ');
    return `${this.requests.length} requests received (${byStatus || 'none'}), ${this.deliveredTotal} answered 2xx`;
  }
}

function isSuccess(status: number | undefined): boolean {
  return status !== undefined && status >= 200 && status < 300;
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
