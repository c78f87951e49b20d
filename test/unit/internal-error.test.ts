import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DelayedError, type Job, type Queue } from 'bullmq';
import { ReplyError } from 'ioredis';
import { createDeliver } from '../../dispatcher/delivery/deliver.js';
import type { EndpointBreaker } from '../../dispatcher/endpoint/breaker.js';
import { InternalError, InternalErrorCode, internal } from '../../dispatcher/delivery/internal-error.js';
import { DispatcherMetricFamilies } from '../../dispatcher/metrics.js';
import type { RateLimiter } from '../../dispatcher/endpoint/rate-limiter.js';
import type { WebhookClient } from '../../dispatcher/webhook/client.js';
import { createLogger } from '../../shared/observability/logger.js';
import { buildFormat } from '../../dispatcher/formats/build.js';
import { RequestSlots } from '../../dispatcher/delivery/request-slots.js';

// ioredis exports ReplyError without a type.
const replyError = (message: string): Error => new (ReplyError as new (message: string) => Error)(message);

describe('internal errors', () => {
  it('get a stable code from what failed, never from a message', async () => {
    const reply = await internal('rate_limit', () => Promise.reject(replyError('NOPERM no permissions'))).catch((error: unknown) => error);
    assert.ok(reply instanceof InternalError);
    assert.equal(reply.code, InternalErrorCode.redisReply);
    assert.equal(reply.operation, 'rate_limit');
    const lost = await internal('progress', () => Promise.reject(new Error('Connection is closed.'))).catch((error: unknown) => error);
    assert.equal((lost as InternalError).code, InternalErrorCode.redisUnavailable);
    assert.equal(new InternalError('other', new TypeError('x')).code, InternalErrorCode.internal);
  });

  it('let a deliberate postponement (DelayedError) through', async () => {
    await assert.rejects(internal('entity_order', () => Promise.reject(new DelayedError())), DelayedError);
  });

  it('postpone the job without charging an attempt: moved to the delayed set with its token, then DelayedError', async () => {
    const logger = createLogger('test', 'error');
    const queue = {} as Queue;
    const metrics = new DispatcherMetricFamilies('test').destination('default', queue);
    let posted = 0;
    const client = { post: async () => ((posted += 1), { status: 200 }) } as unknown as WebhookClient;
    const rateLimiter = { acquire: () => Promise.reject(replyError('OOM command not allowed')) } as unknown as RateLimiter;
    const breaker = { state: 'delivering' } as unknown as EndpointBreaker;
    const deliver = createDeliver({ client, format: buildFormat({ format: 'raw' }), queue, slots: new RequestSlots(1), writeProgress: async () => true, breaker, metrics, logger, rateLimiter, failureThreshold: 10, retry: { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000 } });
    const moves: Array<[number, string | undefined]> = [];
    const job = {
      id: 'e1',
      name: 'create',
      attemptsMade: 0,
      data: { event: 'create', streamId: '1-0', body: '{}', receivedAt: 0 },
      moveToDelayed: async (timestamp: number, token?: string) => void moves.push([timestamp, token]),
    } as unknown as Job;
    await assert.rejects(deliver(job, 'token-1'), DelayedError);
    assert.equal(moves.length, 1);
    assert.equal(moves[0]![1], 'token-1');
    assert.equal(posted, 0, 'no request without a rate-limit slot');
    const counted = (await metrics.registry.getSingleMetric('opencti_webhook_internal_errors_total')!.get()).values.find((v) => v.labels.operation === 'rate_limit');
    assert.equal(counted?.value, 1);
  });

  it('when Redis refuses even the move, still throw DelayedError (the job stalls and is re-run, uncharged)', async () => {
    const logger = createLogger('test', 'error');
    const queue = {} as Queue;
    const metrics = new DispatcherMetricFamilies('test').destination('default', queue);
    const client = { post: async () => ({ status: 200 }) } as unknown as WebhookClient;
    const rateLimiter = { acquire: () => Promise.reject(replyError('READONLY')) } as unknown as RateLimiter;
    const deliver = createDeliver({ client, format: buildFormat({ format: 'raw' }), queue, slots: new RequestSlots(1), writeProgress: async () => true, breaker: {} as EndpointBreaker, metrics, logger, rateLimiter, failureThreshold: 10, retry: { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000 } });
    const job = {
      id: 'e1',
      name: 'create',
      attemptsMade: 0,
      data: { event: 'create', streamId: '1-0', body: '{}', receivedAt: 0 },
      moveToDelayed: () => Promise.reject(replyError('READONLY')),
    } as unknown as Job;
    await assert.rejects(deliver(job, 'token-1'), DelayedError);
  });
});
