import { Agent, fetch, type Dispatcher, type Response } from 'undici';
import { causeChain } from '../../shared/errors/causes.js';
import { ErrorCode } from '../../shared/errors/codes.js';
import type { Logger } from '../../shared/observability/logger.js';
import { backoffDelayMs, type Backoff } from '../../shared/timing/backoff.js';
import type { RawFrame } from './frame.js';
import { SseParser } from './sse-parser.js';
import { TLS_HINT, tlsVerifyFailure } from '../platform/http.js';

/** What a 401 from the stream means, for the logs and the CLI's `check`. */
export const STREAM_REJECTED_HINT = 'OpenCTI answered 401; check OPENCTI_TOKEN (valid, with access to the stream) and CONNECTOR_LIVE_STREAM_ID (unknown ids also get 401)';

export type DisconnectReason = 'network' | 'idle' | 'http_401' | 'http_410' | 'http_other';

export interface StreamClientOptions {
  /** `${OPENCTI_URL}/stream/${CONNECTOR_LIVE_STREAM_ID}[?recover=…]`; a function is read at every (re)connection. */
  url: string | (() => string);
  /** The platform's dispatcher (TLS, proxy), shared with GraphQL and closed by its owner. @defaultValue an own Agent */
  dispatcher?: Dispatcher;
  /** authorization, listen-delete, no-dependencies, with-inferences, user-agent. */
  headers: Record<string, string>;
  /** Read at every (re)connection: the position to resume strictly after. */
  lastEventId: () => string;
  onFrame: (frame: RawFrame) => void;
  /** Awaited before each chunk is read, so a full buffer pauses the platform (TCP backpressure). */
  waitForCapacity: () => Promise<void>;
  onConnected?: () => void;
  onDisconnected?: (reason: DisconnectReason) => void;
  logger: Logger;
  /** No frame with an id for this long means a dead connection (pycti: 45 s). @defaultValue 45000 */
  idleTimeoutMs?: number;
  /** Reconnect delay: doubles from `initial` up to `max`, ±20 % jitter. @defaultValue { initialMs: 1000, maxMs: 15000 } */
  reconnectDelay?: Backoff;
}

/**
 * Reads the OpenCTI live stream over undici and keeps it read, forever, until
 * stop(). Every failure (network error, an answer other than a 200 event
 * stream, the platform ending the response, silence) closes the connection,
 * and this class reconnects with capped exponential backoff, sending
 * `lastEventId()`: its own position, never the last id *seen*, which may sit
 * in the middle of a group of frames sharing an id (so the `retry` field and
 * the reconnection rules of an EventSource do not apply). Frames are parsed
 * from the response's bytes by SseParser.
 */
export class StreamClient {
  readonly #options: StreamClientOptions;
  readonly #agent: Dispatcher;
  readonly #ownsAgent: boolean;
  readonly #idleTimeoutMs: number;
  #source: Connection | undefined;
  #reconnectTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #failures = 0;
  #lastActivityAt = 0;
  #paused = false;
  #lastStatusText = '';
  #lastFetchError: unknown;
  #started = false;
  #stopped = false;
  #open = false;

  constructor(options: StreamClientOptions) {
    this.#options = options;
    this.#idleTimeoutMs = options.idleTimeoutMs ?? 45_000;
    this.#ownsAgent = !options.dispatcher;
    this.#agent = options.dispatcher ?? new Agent({ bodyTimeout: 0, headersTimeout: 0, allowH2: false });
  }

  /** True between the platform's 200 answer and the next disconnect. */
  get connected(): boolean {
    return this.#open;
  }

  start(): void {
    this.#started = true;
    this.#connect();
    this.#watchdog = setInterval(() => this.#checkIdle(), Math.min(5_000, this.#idleTimeoutMs / 5));
  }

  /** Drops the connection at once (no frame of it is handed over any more) and connects again from `lastEventId()`; nothing before start(). */
  restart(): void {
    if (!this.#started) return;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = undefined;
    this.#discardSource();
    this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#watchdog);
    clearTimeout(this.#reconnectTimer);
    this.#discardSource();
    if (this.#ownsAgent) await this.#agent.close().catch(() => undefined);
  }

  #connect(): void {
    if (this.#stopped) return;
    this.#lastActivityAt = Date.now();
    const { url } = this.#options;
    const connection: Connection = { abort: new AbortController() };
    this.#source = connection;
    this.#read(connection, typeof url === 'string' ? url : url()).catch((error: unknown) => this.#onError(connection, { message: describeError(error) }));
  }

  /** One connection, from the request to the end of its response; a replaced connection stops at its next step. */
  async #read(connection: Connection, url: string): Promise<void> {
    const response = await this.#fetch(url, connection.abort.signal);
    const { status, body } = response;
    const eventStream = status === 200 && body !== null && (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
    if (connection !== this.#source || !eventStream) {
      await body?.cancel().catch(() => undefined);
      const message = status === 200 ? 'Invalid response, expected a "text/event-stream" body' : `Non-200 status code (${status})`;
      this.#onError(connection, { code: status, message });
      return;
    }
    this.#open = true;
    this.#options.logger.info({ lastEventId: this.#options.lastEventId() }, 'stream.opened');
    this.#options.onConnected?.();
    const parser = new SseParser((frame) => this.#onFrame(connection, frame));
    // undici types the body of a fetch as a stream of `any`; it is bytes.
    const reader = (body as ReadableStream<Uint8Array>).getReader();
    for (;;) {
      // A chunk is read only while the enqueuer has room: a full buffer pauses the platform (TCP backpressure).
      const waitStarted = Date.now();
      this.#paused = true;
      await this.#options.waitForCapacity();
      this.#paused = false;
      // Time spent paused by our own backpressure is not platform silence.
      this.#lastActivityAt += Date.now() - waitStarted;
      if (connection !== this.#source) {
        await reader.cancel().catch(() => undefined);
        return;
      }
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(value);
    }
    // The platform ended the response.
    this.#onError(connection, {});
  }

  #onFrame(connection: Connection, frame: RawFrame): void {
    if (connection !== this.#source) return;
    if (frame.id !== '') {
      this.#lastActivityAt = Date.now();
      this.#failures = 0;
    }
    this.#options.onFrame(frame);
  }

  #onError(connection: Connection, event: { code?: number; message?: string }): void {
    if (connection !== this.#source || this.#stopped) return;
    const status = event.code;
    const reason: DisconnectReason =
      status === undefined ? 'network' : status === 401 ? 'http_401' : status === 410 ? 'http_410' : 'http_other';
    const tlsError = status === undefined ? tlsVerifyFailure(this.#lastFetchError) : undefined;
    this.#lastFetchError = undefined;
    this.#scheduleReconnect(reason, { status, statusText: status === undefined ? undefined : this.#lastStatusText, error: event.message, tlsError });
  }

  #checkIdle(): void {
    if (!this.#source || this.#paused || this.#reconnectTimer) return;
    const idleMs = Date.now() - this.#lastActivityAt;
    if (idleMs > this.#idleTimeoutMs) this.#scheduleReconnect('idle', { idleMs });
  }

  #scheduleReconnect(reason: DisconnectReason, details: Record<string, unknown>): void {
    this.#discardSource();
    this.#options.onDisconnected?.(reason);
    const delayMs = backoffDelayMs(this.#failures, this.#options.reconnectDelay ?? { initialMs: 1_000, maxMs: 15_000 });
    this.#failures += 1;
    const { logger } = this.#options;
    const fields = { ...details, reason, retryInMs: delayMs };
    if (details.tlsError) {
      logger.error({ ...fields, hint: TLS_HINT }, 'stream.tls_failed');
    } else if (reason === 'http_401') {
      logger.error({ ...fields, code: ErrorCode.streamRejected, hint: STREAM_REJECTED_HINT }, 'stream.rejected');
    } else if (reason === 'http_410') {
      logger.warn({ ...fields, code: ErrorCode.streamStopped, hint: 'the live stream is stopped in OpenCTI; waiting for it to be started' }, 'stream.stopped');
    } else {
      logger.warn(fields, 'stream.disconnected');
    }
    this.#reconnectTimer = setTimeout(() => {
      this.#reconnectTimer = undefined;
      this.#connect();
    }, delayMs);
  }

  #discardSource(): void {
    this.#open = false;
    this.#source?.abort.abort();
    this.#source = undefined;
  }

  readonly #fetch = async (url: string, signal: AbortSignal): Promise<Response> => {
    const response = await fetch(url, {
      method: 'GET',
      signal,
      headers: {
        ...this.#options.headers,
        accept: 'text/event-stream',
        'cache-control': 'no-cache',
        'last-event-id': this.#options.lastEventId(),
      },
      dispatcher: this.#agent,
    }).catch((error: unknown) => {
      // The code tells a certificate problem apart.
      this.#lastFetchError = error;
      throw error;
    });
    this.#lastStatusText = response.statusText;
    return response;
  };
}

/** One connection to the stream; aborting it ends its request or response. */
interface Connection {
  readonly abort: AbortController;
}

/** An error and its causes in one line, for the logs (`fetch failed: connect ECONNREFUSED …`). */
function describeError(error: unknown): string {
  return causeChain(error)
    .map((link) => (link instanceof Error ? link.message : String(link)))
    .join(': ');
}
