import { Pool } from 'undici';
import { USER_AGENT } from '../shared/version.js';

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

  constructor(options: WebhookClientOptions) {
    const url = new URL(options.url);
    this.#path = `${url.pathname}${url.search}`;
    this.#timeoutMs = options.timeoutMs;
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

  /** Resolves with the status of any HTTP answer; rejects on network errors and timeouts. */
  async post(body: string, headers: Record<string, string>): Promise<number> {
    const response = await this.#pool.request({
      path: this.#path,
      method: 'POST',
      headers: { ...this.#headers, ...headers },
      body,
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    await response.body.dump();
    return response.statusCode;
  }

  close(): Promise<void> {
    return this.#pool.close();
  }
}
