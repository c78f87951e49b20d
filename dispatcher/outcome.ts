/**
 * Pure classification of one delivery attempt (Standard Webhooks guidance,
 * reference A.1/A.6): only 2xx delivers; 3xx is a failure and never
 * followed; 408, 429, 5xx, timeouts and network errors are worth retrying;
 * any other 4xx is the endpoint refusing this event.
 */
export type AttemptResult = '2xx' | '3xx' | '4xx' | '5xx' | 'timeout' | 'network';

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
  return name === 'TimeoutError' || (code !== undefined && TIMEOUT_CODES.has(code)) ? 'timeout' : 'network';
}
