import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Agent, EnvHttpProxyAgent, type Dispatcher } from 'undici';
import { proxyFor, undiciProxyOptions, type ProxySettings } from '../../shared/net/proxy.js';
import { USER_AGENT } from '../../shared/process/version.js';
import { tlsFailure } from './outcome.js';
import type { WebhookSigner } from './signer.js';

/** Bytes of a failed answer kept for the logs and the failed set (Svix keeps 20 KB; a reason needs far less). */
const EXCERPT_BYTES = 512;
/** Most bytes of a failed answer read (and dropped) to keep its socket: an error page, not a download. */
const DRAIN_LIMIT_BYTES = 64 * 1024;

export interface WebhookResponse {
  status: number;
  /** The Retry-After header, when present. */
  retryAfter?: string;
  /** Start of the body of a non-2xx answer, printable, secrets removed. */
  excerpt?: string;
}

export interface WebhookClientOptions {
  url: string;
  /** Sockets kept open to the endpoint; one per concurrent delivery. */
  connections: number;
  /** Total deadline of one POST, connection included. */
  timeoutMs: number;
  /** Headers of every request (authentication, WEBHOOK_EXTRA_HEADERS); lower-case names. */
  headers?: Record<string, string>;
  /** Values an endpoint might echo that must not reach logs or the failed set (tokens, passwords, header values). */
  secrets?: readonly string[];
  /** Signs every attempt (Standard Webhooks) when signing secrets are configured. */
  signer?: WebhookSigner;
  /** TLS of the connection to the endpoint: CA, client certificate, verification. */
  tls?: ConnectionOptions;
  /** HTTP(S)_PROXY and NO_PROXY as the configuration loader read them. */
  proxy: ProxySettings;
}

/** Shorter values would garble excerpts for no protection; they are not secrets. */
const MIN_REDACTED_LENGTH = 4;

/**
 * One keep-alive undici dispatcher to the webhook, with one pool of
 * `connections` sockets: an EnvHttpProxyAgent when HTTPS_PROXY / HTTP_PROXY /
 * NO_PROXY (either case) send the webhook's origin through a proxy, else a
 * plain Agent (the origin never changes, so its route is known at start, and
 * a delivery skips EnvHttpProxyAgent's URL parse and NO_PROXY match). The TLS
 * options apply to direct connections (`connect`) and to connections
 * tunnelled through a proxy (`requestTls`: undici's ProxyAgent replaces
 * `connect` with its tunnel).
 * POSTs with request(), which never follows redirects (a 3xx is a failed
 * attempt, and credentials never travel to another host). Headers common to
 * every request are built once. Every response body is consumed so the
 * socket returns to the pool.
 */
export class WebhookClient {
  readonly #agent: Agent | EnvHttpProxyAgent;
  readonly #origin: string;
  readonly #path: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #secrets: readonly string[];
  readonly #longestSecret: number;
  readonly #signer: WebhookSigner | undefined;

  constructor(options: WebhookClientOptions) {
    const url = new URL(options.url);
    this.#origin = url.origin;
    this.#path = `${url.pathname}${url.search}`;
    this.#timeoutMs = options.timeoutMs;
    this.#signer = options.signer;
    tlsAlerts.use();
    this.#secrets = (options.secrets ?? []).filter((secret) => secret.length >= MIN_REDACTED_LENGTH).sort((a, b) => b.length - a.length);
    this.#longestSecret = Buffer.byteLength(this.#secrets[0] ?? '', 'utf8');
    const tls = options.tls ?? {};
    const pool = {
      connections: options.connections,
      pipelining: 1,
      // HTTP/1.1 as the Python connector speaks: undici 8 would negotiate HTTP/2 with TLS endpoints that offer it,
      // multiplexing every delivery on one connection instead of `connections` sockets.
      allowH2: false,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connect: tls,
    };
    this.#agent = proxyFor(url, options.proxy) === undefined ? new Agent(pool) : new EnvHttpProxyAgent({ ...pool, requestTls: tls, ...undiciProxyOptions(options.proxy) });
    this.#headers = {
      'content-type': 'application/json',
      accept: 'application/json',
      'user-agent': USER_AGENT,
      ...options.headers,
    };
  }

  /**
   * POSTs `body` as event `webhookId`, signed at send time (this attempt's
   * timestamp) over the exact bytes sent. Resolves with any HTTP answer;
   * rejects on network and TLS errors and timeouts.
   */
  async post(webhookId: string, body: string, headers: Record<string, string>): Promise<WebhookResponse> {
    const requestHeaders: Record<string, string> = { ...this.#headers, ...headers, 'webhook-id': webhookId };
    let payload: string | Buffer = body;
    if (this.#signer) {
      payload = Buffer.from(body, 'utf8');
      const timestamp = Math.floor(Date.now() / 1000);
      requestHeaders['webhook-timestamp'] = String(timestamp);
      requestHeaders['webhook-signature'] = this.#signer.sign(webhookId, timestamp, payload);
    }
    const response = await this.#agent
      .request({
        origin: this.#origin,
        path: this.#path,
        method: 'POST',
        headers: requestHeaders,
        body: payload,
        signal: AbortSignal.timeout(this.#timeoutMs),
      })
      .catch((error: unknown) => {
        throw tlsAlerts.explain(error);
      });
    const status = response.statusCode;
    if (status >= 200 && status < 300) {
      await response.body.dump();
      return { status };
    }
    const retryAfter = response.headers['retry-after'];
    const excerpt = this.#excerpt(await readStart(response.body, EXCERPT_BYTES + this.#longestSecret));
    return { status, excerpt, ...(typeof retryAfter === 'string' ? { retryAfter } : {}) };
  }

  /**
   * A request that carries no event, for the CLI's `check`: `method` (HEAD,
   * OPTIONS) with the headers of every request (authentication,
   * WEBHOOK_EXTRA_HEADERS), so a gateway that refuses anonymous requests
   * answers as it would to a delivery; no body, no webhook-id and no
   * signature, so no receiver can take it for an event. Through the same
   * agent as the deliveries: same TLS, proxy, no redirect followed. Rejects
   * like post() on network and TLS errors and timeouts.
   */
  async probe(method: 'HEAD' | 'OPTIONS'): Promise<{ status: number }> {
    const { 'content-type': _noBody, ...headers } = this.#headers;
    const response = await this.#agent
      .request({ origin: this.#origin, path: this.#path, method, headers, signal: AbortSignal.timeout(this.#timeoutMs) })
      .catch((error: unknown) => {
        throw tlsAlerts.explain(error);
      });
    await response.body.dump({ limit: DRAIN_LIMIT_BYTES });
    return { status: response.statusCode };
  }

  /**
   * The start of an answer, printable. An endpoint may echo the credentials it
   * refused; they must not reach logs or the failed set. They are removed
   * before the text is cut, from a start read long enough to hold a secret
   * that begins within the excerpt, so no piece of one is left either.
   */
  #excerpt(start: Buffer): string {
    let text = start.toString('utf8');
    for (const secret of this.#secrets) text = text.replaceAll(secret, '[redacted]');
    return Buffer.from(text, 'utf8')
      .subarray(0, EXCERPT_BYTES)
      .toString('utf8')
      // eslint-disable-next-line no-control-regex -- control characters are what this strips from a log excerpt
      .replace(/[\u0000-\u001f\u007f]+/g, ' ')
      .trim();
  }

  close(): Promise<void> {
    tlsAlerts.release();
    return this.#agent.close();
  }
}

/**
 * The first `bytes` bytes of a failed answer; the rest is read and dropped,
 * up to DRAIN_LIMIT_BYTES, so the socket goes back to the pool: during a 429
 * or 503 storm every attempt would otherwise pay a new TCP (and TLS)
 * handshake. Past the limit undici destroys the socket (a new one is cheaper
 * than reading on). A body that breaks off leaves the excerpt read so far.
 */
async function readStart(body: Dispatcher.ResponseData['body'], bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Already over (aborted by the deadline): no event would ever come.
  if (body.destroyed) return Buffer.alloc(0);
  await new Promise<void>((resolve) => {
    const done = (): void => {
      body.off('data', keep).off('end', done).off('close', done);
      body.pause();
      resolve();
    };
    const keep = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= bytes) done();
    };
    body.on('data', keep).once('end', done).once('close', done).on('error', done);
  });
  await body.dump({ limit: DRAIN_LIMIT_BYTES });
  return Buffer.concat(chunks).subarray(0, bytes);
}

const CONNECTED = 'undici:client:connected';
const ALERT_KEPT_MS = 5_000;

/**
 * TLS 1.3 lets an endpoint refuse our client certificate only after the
 * handshake: the socket then emits the TLS alert, but undici reports the
 * connection closing ("other side closed", UND_ERR_SOCKET), as a network
 * error. The alerts of undici's TLS sockets are kept for a moment, by local
 * address and port (what undici's SocketError tells of its socket), so that
 * a failed request can be reported as the TLS failure it is. One
 * subscription per process, while a client is open.
 */
const tlsAlerts = new (class TlsAlerts {
  readonly #alerts = new Map<string, Error>();
  #users = 0;
  readonly #onConnected = (message: unknown): void => {
    const { socket } = message as { socket: Socket & { encrypted?: boolean } };
    if (socket.encrypted !== true) return;
    const key = `${socket.localAddress}:${socket.localPort}`;
    socket.on('error', (error) => {
      if (!this.#alerts.has(key) && tlsFailure(error) !== undefined) this.#alerts.set(key, error);
    });
    socket.once('close', () => setTimeout(() => this.#alerts.delete(key), ALERT_KEPT_MS).unref());
  };

  use(): void {
    if (this.#users++ === 0) subscribe(CONNECTED, this.#onConnected);
  }

  release(): void {
    if (--this.#users === 0) unsubscribe(CONNECTED, this.#onConnected);
  }

  /** The TLS alert behind a closed-socket error, else the error itself. */
  explain(error: unknown): unknown {
    const { code, socket } = error as { code?: string; socket?: { localAddress?: string; localPort?: number } };
    if (code !== 'UND_ERR_SOCKET' || socket === undefined) return error;
    return this.#alerts.get(`${socket.localAddress}:${socket.localPort}`) ?? error;
  }
})();
