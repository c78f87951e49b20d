import { EventSource, type EventSourceFetchInit } from 'eventsource';
import { Agent, fetch, Response, type Dispatcher } from 'undici';
import { ErrorCode } from '../../shared/errors/codes.js';
import type { Logger } from '../../shared/observability/logger.js';
import { backoffDelayMs, type Backoff } from '../../shared/timing/backoff.js';
import type { RawFrame } from './frame.js';
import { WholeLines } from './whole-lines.js';
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
 * Reads the OpenCTI live stream with eventsource over undici and keeps it
 * read, forever, until stop(). eventsource reconnects by itself only after
 * network errors and with its own Last-Event-ID (the last id *seen*, which may
 * sit in the middle of a group of frames sharing an id), and gives up on any
 * non-200 answer; so every failure closes the connection and this class
 * reconnects with capped exponential backoff and `lastEventId()`.
 */
export class StreamClient {
  readonly #options: StreamClientOptions;
  readonly #agent: Dispatcher;
  readonly #ownsAgent: boolean;
  readonly #idleTimeoutMs: number;
  #source: FrameSource | undefined;
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
    const source = new FrameSource(typeof url === 'string' ? url : url(), { fetch: this.#fetch }, (frame) => this.#onFrame(source, frame));
    source.addEventListener('open', () => {
      if (source !== this.#source) return;
      this.#open = true;
      this.#options.logger.info({ lastEventId: this.#options.lastEventId() }, 'stream.opened');
      this.#options.onConnected?.();
    });
    source.addEventListener('error', (event) => this.#onError(source, event as Event & { code?: number; message?: string }));
    this.#source = source;
  }

  #onFrame(source: FrameSource, frame: RawFrame): void {
    if (source !== this.#source) return;
    if (frame.id !== '') {
      this.#lastActivityAt = Date.now();
      this.#failures = 0;
    }
    this.#options.onFrame(frame);
  }

  #onError(source: FrameSource, event: { code?: number; message?: string }): void {
    if (source !== this.#source || this.#stopped) return;
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
    this.#source?.close();
    this.#source = undefined;
  }

  readonly #fetch = async (input: string | URL, init: EventSourceFetchInit) => {
    const response = await fetch(input, {
      method: 'GET',
      // eventsource types the signal from the DOM lib, which this Node build does not load.
      signal: (init.signal as AbortSignal | null | undefined) ?? null,
      headers: {
        ...this.#options.headers,
        accept: 'text/event-stream',
        'cache-control': 'no-cache',
        // Always ours, never eventsource's: see the class comment.
        'last-event-id': this.#options.lastEventId(),
      },
      dispatcher: this.#agent,
    }).catch((error: unknown) => {
      // eventsource keeps only the message; the code tells a certificate problem apart.
      this.#lastFetchError = error;
      throw error;
    });
    this.#lastStatusText = response.statusText;
    if (response.status !== 200 || !response.body) return response;
    return new Response(this.#paceBody(response.body), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
  };

  /** Hands chunks to eventsource only while the enqueuer has room, cut after a line feed (see WholeLines). */
  #paceBody(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    const lines = new WholeLines();
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          const waitStarted = Date.now();
          this.#paused = true;
          await this.#options.waitForCapacity();
          this.#paused = false;
          // Time spent paused by our own backpressure is not platform silence.
          this.#lastActivityAt += Date.now() - waitStarted;
          // A pull must enqueue something (or close): read on while a chunk holds no whole line.
          for (;;) {
            const { done, value } = await reader.read();
            const parts = done ? lines.rest() : lines.cut(value);
            for (const part of parts) controller.enqueue(part);
            if (done) controller.close();
            if (done || parts.length > 0) return;
          }
        },
        cancel: (reason) => reader.cancel(reason),
      },
      { highWaterMark: 0 },
    );
  }
}

/** An EventSource that hands every message to one sink, whatever its event name. */
class FrameSource extends EventSource {
  constructor(
    url: string,
    init: ConstructorParameters<typeof EventSource>[1],
    private readonly sink: (frame: RawFrame) => void,
  ) {
    super(url, init);
  }

  override dispatchEvent(event: Event): boolean {
    if (event instanceof MessageEvent) {
      this.sink({ event: event.type, id: event.lastEventId, data: String(event.data) });
      return true;
    }
    return super.dispatchEvent(event);
  }
}
