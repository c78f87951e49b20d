import { ErrorCode } from '../../shared/errors/codes.js';

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

// Node's certificate verification codes (OpenSSL X509_V_ERR_* names) and TLS alerts, in words an operator can act on.
const TLS_REASONS: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: UNTRUSTED,
  UNABLE_TO_GET_ISSUER_CERT: UNTRUSTED,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: UNTRUSTED,
  SELF_SIGNED_CERT_IN_CHAIN: UNTRUSTED,
  DEPTH_ZERO_SELF_SIGNED_CERT: UNTRUSTED,
  CERT_UNTRUSTED: UNTRUSTED,
  INVALID_CA: UNTRUSTED,
  CERT_HAS_EXPIRED: 'certificate expired',
  CERT_NOT_YET_VALID: 'certificate not yet valid (check the clocks)',
  ERR_TLS_CERT_ALTNAME_INVALID: 'certificate does not name the host of WEBHOOK_URL',
  HOSTNAME_MISMATCH: 'certificate does not name the host of WEBHOOK_URL',
  CERT_REVOKED: 'certificate revoked',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'the endpoint requires a client certificate (set WEBHOOK_CLIENT_CERT_FILE and WEBHOOK_CLIENT_KEY_FILE)',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: CLIENT_CERT_REFUSED,
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: CLIENT_CERT_REFUSED,
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: CLIENT_CERT_REFUSED,
  ERR_SSL_TLSV1_ALERT_ACCESS_DENIED: CLIENT_CERT_REFUSED,
  ERR_SSL_WRONG_VERSION_NUMBER: 'the endpoint does not speak TLS on this port (http:// URL?)',
};
const OTHER_TLS_CODE = /^(?:CERT_|UNABLE_TO_|ERR_SSL_|ERR_TLS_)/;

/**
 * Why the TLS handshake with the endpoint failed, as `TLS: <reason> (<code>)`,
 * or undefined when `error` is not a TLS failure. Such a failure is the
 * endpoint's (or our configuration's), never one event's. undici may wrap
 * the socket error (`cause`).
 */
export function tlsFailure(error: unknown): string | undefined {
  for (let current = error, depth = 0; typeof current === 'object' && current !== null && depth < 5; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      const reason = TLS_REASONS[code] ?? (OTHER_TLS_CODE.test(code) ? 'handshake failed' : undefined);
      if (reason !== undefined) return `TLS: ${reason} [${code}]`;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
