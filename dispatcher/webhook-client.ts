import { Pool } from 'undici';
import type { Readable } from 'node:stream';
import { USER_AGENT } from '../shared/version.js';

/** Bytes of a failed answer kept for the logs and the failed set (Svix keeps 20 KB; a reason needs far less). */
const EXCERPT_BYTES = 512;

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
  /** The `<WEBHOOK_HEADER>: <WEBHOOK_TOKEN>` pair when WEBHOOK_AUTH_TYPE=TOKEN. */
  authHeader?: { name: string; value: string };
}

/**
 * One keep-alive undici Pool to the webhook's origin. POSTs with request(),
 * which never follows redirects (a 3xx is a failed attempt, and the token
 * never travels to another host). Headers common to every request are built
 * once. Every response body is consumed so the socket returns to the pool.
 */
export class WebhookClient {
  readonly #pool: Pool;
  readonly #path: string;
  readonly #headers: Record<string, string>;
  readonly #timeoutMs: number;
  readonly #secret: string | undefined;

  constructor(options: WebhookClientOptions) {
    const url = new URL(options.url);
    this.#path = `${url.pathname}${url.search}`;
    this.#timeoutMs = options.timeoutMs;
    this.#secret = options.authHeader?.value;
    this.#pool = new Pool(url.origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
    });
    this.#headers = {
      'content-type': 'application/json',
      accept: 'application/json',
      'user-agent': USER_AGENT,
      ...(options.authHeader ? { [options.authHeader.name.toLowerCase()]: options.authHeader.value } : {}),
    };
  }

  /** Resolves with any HTTP answer; rejects on network errors and timeouts. */
  async post(body: string, headers: Record<string, string>): Promise<WebhookResponse> {
    const response = await this.#pool.request({
      path: this.#path,
      method: 'POST',
      headers: { ...this.#headers, ...headers },
      body,
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const status = response.statusCode;
    if (status >= 200 && status < 300) {
      await response.body.dump();
      return { status };
    }
    const retryAfter = response.headers['retry-after'];
    const excerpt = this.#redact(await readExcerpt(response.body));
    return { status, excerpt, ...(typeof retryAfter === 'string' ? { retryAfter } : {}) };
  }

  // An endpoint may echo the credentials it refused; they must not reach logs or the failed set.
  #redact(text: string): string {
    return this.#secret ? text.replaceAll(this.#secret, '[redacted]') : text;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}

async function readExcerpt(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Leaving the loop early destroys the body (and its socket): acceptable on failures only.
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= EXCERPT_BYTES) break;
  }
  return Buffer.concat(chunks)
    .subarray(0, EXCERPT_BYTES)
    .toString('utf8')
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .trim();
}
