import { redisReply } from './reply.js';

/**
 * Redis error replies that describe a passing state of the server or the
 * cluster (loading its data, a script running, a failover, memory full until
 * the queue drains). A reply's first word is its error code (RESP).
 */
const TRANSIENT_REPLIES = new Set(['LOADING', 'BUSY', 'TRYAGAIN', 'CLUSTERDOWN', 'MASTERDOWN', 'READONLY', 'OOM']);
/** Thrown by code that is wrong whatever the environment does: a retry does the same thing again. */
const PROGRAMMING_ERRORS = [TypeError, RangeError, ReferenceError, SyntaxError, EvalError, URIError];

/**
 * Whether work that failed with `error` may succeed if tried again later:
 * Redis or OpenCTI could not be reached, or Redis was between states. Not
 * retryable: a bug, a value thrown that is not an Error, or Redis refusing
 * the command itself (WRONGTYPE, NOPERM, ERR…), which gets the same answer
 * every time and needs a person.
 */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof Error) || PROGRAMMING_ERRORS.some((type) => error instanceof type)) return false;
  const reply = redisReply(error);
  // A sentinel's reply relayed by ioredis: it retries the sentinels itself, so another try may succeed.
  return reply === undefined || reply.fromSentinel || TRANSIENT_REPLIES.has(reply.code);
}
