/** Pure classification of one delivery attempt, for decisions and metric labels. */
export type AttemptResult = '2xx' | '3xx' | '4xx' | '5xx' | 'timeout' | 'network';

export function isDelivered(status: number): boolean {
  return status >= 200 && status < 300;
}

export function classifyStatus(status: number): AttemptResult {
  if (status < 300) return '2xx';
  if (status < 400) return '3xx';
  return status < 500 ? '4xx' : '5xx';
}

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

export function classifyError(error: unknown): AttemptResult {
  const { name, code } = error as { name?: string; code?: string };
  return name === 'TimeoutError' || (code !== undefined && TIMEOUT_CODES.has(code)) ? 'timeout' : 'network';
}
