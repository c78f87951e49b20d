import { DelayedError } from 'bullmq';
import { ReplyError } from 'ioredis';
import { ErrorCode } from '../../shared/errors/codes.js';
import { OwhError } from '../../shared/errors/owh-error.js';

/** Where around an attempt our own work failed (the `operation` label of opencti_webhook_internal_errors_total). */
export const INTERNAL_OPERATIONS = ['entity_order', 'rate_limit', 'unpack', 'progress', 'postpone', 'other'] as const;
export type InternalOperation = (typeof INTERNAL_OPERATIONS)[number];

export const InternalErrorCode = {
  /** Redis answered the command with an error (OOM, READONLY, NOPERM, MISCONF, a script error…). */
  redisReply: ErrorCode.redisReply,
  /** A Redis command got no answer (connection lost, retries given up). */
  redisUnavailable: ErrorCode.redisUnavailable,
  /** Anything else of ours that is not about the endpoint. */
  internal: ErrorCode.internal,
} as const;
export type InternalErrorCode = (typeof InternalErrorCode)[keyof typeof InternalErrorCode];

/**
 * Our failure, not the endpoint's nor the event's: the event is postponed
 * without being charged an attempt (see postpone.ts). `operation` says where.
 */
export class InternalError extends OwhError {
  readonly code: InternalErrorCode;

  constructor(
    readonly operation: InternalOperation,
    cause: unknown,
  ) {
    super(`${operation} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    if (cause instanceof ReplyError) this.code = InternalErrorCode.redisReply;
    else this.code = operation === 'other' ? InternalErrorCode.internal : InternalErrorCode.redisUnavailable;
  }
}

/**
 * Runs one Redis operation of ours around an attempt; its failure becomes an
 * InternalError. A DelayedError is a deliberate postponement and passes.
 */
export async function internal<T>(operation: InternalOperation, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof DelayedError || error instanceof InternalError) throw error;
    throw new InternalError(operation, error);
  }
}
