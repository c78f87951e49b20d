import { ErrorCode } from '../../shared/errors/codes.js';
import { classifyTlsFailure, type TlsFailureKind } from '../../shared/net/tls-error.js';

/**
 * Pure classification of one delivery attempt (Standard Webhooks guidance,
 * reference A.1/A.6): only 2xx delivers; 3xx is a failure and never
 * followed; 408, 429, 5xx, timeouts and network errors are worth retrying;
 * any other 4xx is the endpoint refusing this event.
 */
export type AttemptResult = '2xx' | '3xx' | '4xx' | '5xx' | 'timeout' | 'network' | 'tls';

export type Verdict =
  | { kind: 'delivered' }
  | { kind: 'retry'; retryAfterMs?: number }
  | { kind: 'rejected' };

export function judgeStatus(status: number, retryAfter: string | undefined, now: number = Date.now()): Verdict {
  if (status >= 200 && status < 300) return { kind: 'delivered' };
  if (status === 429 || status === 503) {
    const retryAfterMs = parseRetryAfter(retryAfter, now);
    return retryAfterMs === undefined ? { kind: 'retry' } : { kind: 'retry', retryAfterMs };
  }
  if (status === 408 || status >= 500 || status < 400) return { kind: 'retry' };
  return { kind: 'rejected' };
}

/** `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3), in ms from `now`; undefined when absent or invalid. */
export function parseRetryAfter(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // An HTTP date names its weekday and month; this keeps "-5" from parsing as a year.
  const date = /[a-z]{3}/i.test(text) ? Date.parse(text) : Number.NaN;
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

export function classifyStatus(status: number): AttemptResult {
  if (status < 300) return '2xx';
  if (status < 400) return '3xx';
  return status < 500 ? '4xx' : '5xx';
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

export function classifyError(error: unknown): AttemptResult {
  const { name, code } = (error ?? {}) as { name?: string; code?: string };
  if (name === 'TimeoutError' || (code !== undefined && TIMEOUT_CODES.has(code))) return 'timeout';
  return tlsFailure(error) === undefined ? 'network' : 'tls';
}

/** The stable code a result is reported with (docs/errors.md), when it has one. */
export function resultCode(result: AttemptResult): ErrorCode | undefined {
  return result === 'tls' ? ErrorCode.webhookTls : undefined;
}

/** Why an attempt got no HTTP answer, for logs and the failed set. */
export function describeError(error: unknown, result: AttemptResult): string {
  if (result === 'timeout') return 'request timed out';
  const tls = tlsFailure(error);
  if (tls !== undefined) return tls;
  const { code, name, message } = (error ?? {}) as { code?: string; name?: string; message?: string };
  // undici's ProxyAgent reports a refused CONNECT only in its message ("Proxy response (407) !== 200 when HTTP Tunneling").
  const proxyStatus = /^Proxy response \((\d+)\)/.exec(message ?? '')?.[1];
  if (proxyStatus !== undefined) return `proxy refused the tunnel (HTTP ${proxyStatus})`;
  return `unreachable (${code ?? name ?? 'error'})`;
}

const UNTRUSTED = 'certificate not trusted (set WEBHOOK_CA_FILE to the CA that signed it, or WEBHOOK_SSL_VERIFY=false)';
const CLIENT_CERT_REFUSED = 'the endpoint refused the client certificate (check WEBHOOK_CLIENT_CERT_FILE and WEBHOOK_CLIENT_KEY_FILE)';

// Each kind of TLS failure in words an operator of the dispatcher can act on.
const TLS_REASONS: Record<TlsFailureKind, string> = {
  untrusted: UNTRUSTED,
  expired: 'certificate expired',
  'not-yet-valid': 'certificate not yet valid (check the clocks)',
  'host-mismatch': 'certificate does not name the host of WEBHOOK_URL',
  revoked: 'certificate revoked',
  'client-cert-required': 'the endpoint requires a client certificate (set WEBHOOK_CLIENT_CERT_FILE and WEBHOOK_CLIENT_KEY_FILE)',
  'client-cert-refused': CLIENT_CERT_REFUSED,
  'not-tls': 'the endpoint does not speak TLS on this port (http:// URL?)',
  other: 'handshake failed',
};

/**
 * Why the TLS handshake with the endpoint failed, as `TLS: <reason> [<code>]`,
 * or undefined when `error` is not a TLS failure. Such a failure is the
 * endpoint's (or our configuration's), never one event's.
 */
export function tlsFailure(error: unknown): string | undefined {
  const failure = classifyTlsFailure(error);
  return failure === undefined ? undefined : `TLS: ${TLS_REASONS[failure.kind]} [${failure.code}]`;
}
