/**
 * The stable codes of the product's own errors, in one registry (as
 * fastify's lib/errors.js): logs carry them as `code` or `err.code`, and
 * code branches on them, never on a message. docs/errors.md describes each
 * one, and test/unit/errors.test.ts keeps the two in step. A retired code is
 * never reused for another meaning.
 */
export const ErrorCode = {
  config: 'OWH_CONFIG',
  cliUsage: 'OWH_CLI_USAGE',
  platformRejected: 'OWH_PLATFORM_REJECTED',
  platformConnectorMissing: 'OWH_PLATFORM_CONNECTOR_MISSING',
  platformHttp: 'OWH_PLATFORM_HTTP',
  tokenRejected: 'OWH_TOKEN_REJECTED',
  streamUnknown: 'OWH_STREAM_UNKNOWN',
  streamRejected: 'OWH_STREAM_REJECTED',
  streamStopped: 'OWH_STREAM_STOPPED',
  jobsMissing: 'OWH_JOBS_MISSING',
  redisReply: 'OWH_REDIS_REPLY_ERROR',
  redisUnavailable: 'OWH_REDIS_UNAVAILABLE',
  internal: 'OWH_INTERNAL_ERROR',
  reclaimFailed: 'OWH_RECLAIM_FAILED',
  webhookFailed: 'OWH_WEBHOOK_FAILED',
  webhookTls: 'OWH_WEBHOOK_TLS',
  formatFailed: 'OWH_FORMAT_FAILED',
  boardRefused: 'OWH_BOARD_REFUSED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
