import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import { EventJobSchema, type EventJob } from '../shared/queue.js';
import type { RetryPolicy } from './backoff.js';
import type { EndpointBreaker } from './endpoint-breaker.js';
import type { EntityOrder } from './entity-order.js';
import type { EventFilter } from './event-filter.js';
import type { DispatcherMetrics } from './metrics.js';
import { classifyError, classifyStatus, describeError, judgeStatus, type AttemptResult } from './outcome.js';
import type { RateLimiter } from './rate-limiter.js';
import type { WebhookClient } from './webhook-client.js';

export interface DeliverDeps {
  client: WebhookClient;
  breaker: EndpointBreaker;
  retry: RetryPolicy;
  metrics: DispatcherMetrics;
  logger: Logger;
  /** WEBHOOK_EVENT_TYPES / WEBHOOK_ENTITY_TYPES, when set. */
  filter?: EventFilter | undefined;
  /** WEBHOOK_RATE_LIMIT_PER_SECOND, when set. */
  rateLimiter?: RateLimiter | undefined;
  /** Per-entity ordering of the events the ingester lined up (those carrying `entity`). */
  order?: EntityOrder | undefined;
}

/** A failed attempt charged to the event; BullMQ schedules the retry (see backoff.ts). */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Events whose 4xx is awaiting proof that the endpoint works for others; bounded, oldest forgotten first. */
const MAX_REJECTIONS_TRACKED = 10_000;

/**
 * The BullMQ processor, the hot path: POST the stored body as is (never
 * parsed or re-serialised) and decide, in one place, what a failure costs.
 * Events outside the allow-lists complete without a request. Each request
 * first takes its slot from the shared rate limit. Then:
 * - the endpoint is down (breaker open), or refused the TLS handshake (a
 *   certificate or configuration problem, never one event's): the event
 *   waits, attempts untouched;
 * - 4xx: the event is dead-lettered only once this process has seen the
 *   endpoint accept another event after the first refusal; until then the
 *   refusal may be the endpoint's (401 on everything) and costs nothing;
 * - anything else: a charged attempt, retried with backoff.
 */
export function createDeliver({ client, breaker, retry, metrics, logger, filter, rateLimiter, order }: DeliverDeps) {
  const firstRejectedAt = new Map<string, number>();

  return async (job: Job<EventJob>, token?: string): Promise<void> => {
    const parsed = EventJobSchema.safeParse(job.data);
    if (!parsed.success || job.id === undefined) throw new UnrecoverableError('job data is not an OpenCTI event (was it added by hand?)');
    const jobId = job.id;
    const { event, streamId, body, receivedAt, entity } = parsed.data;
    const attempt = job.attemptsMade + 1;
    const filtered = filter?.(event, body);
    if (filtered !== undefined) {
      metrics.filtered(filtered);
      logger.debug({ jobId, event, reason: filtered }, 'delivery.filtered');
      return;
    }
    // A filtered event needs no turn: it leaves its line when it completes. An event that is not its object's turn parks here.
    if (order && entity !== undefined) await order.claim(job, token, entity);
    if (rateLimiter) metrics.rateLimitWait(await rateLimiter.acquire());
    const started = performance.now();

    let result: AttemptResult;
    let reason: string;
    let verdict: ReturnType<typeof judgeStatus>;
    try {
      const response = await client.post(jobId, body, { 'x-opencti-event': event, 'x-opencti-event-id': streamId });
      result = classifyStatus(response.status);
      verdict = judgeStatus(response.status, response.retryAfter);
      reason = `HTTP ${response.status}${response.excerpt ? `: ${response.excerpt}` : ''}`;
    } catch (error) {
      result = classifyError(error);
      verdict = { kind: 'retry' };
      reason = describeError(error, result);
    }
    const durationMs = performance.now() - started;
    metrics.attempt(result, durationMs);

    if (verdict.kind === 'delivered') {
      breaker.recordSuccess();
      firstRejectedAt.delete(jobId);
      metrics.delivered(event, receivedAt);
      logger.debug({ jobId, attempt, durationMs: Math.round(durationMs) }, 'delivery.succeeded');
      return;
    }

    const retryAfterMs = verdict.kind === 'retry' ? verdict.retryAfterMs : undefined;
    if (breaker.recordFailure(reason, retryAfterMs, result === 'tls')) {
      logger.debug({ jobId, attempt, reason }, 'delivery.postponed');
      return postpone(job, token, 1_000, metrics);
    }
    if (verdict.kind === 'rejected') {
      const since = firstRejectedAt.get(jobId);
      if (since !== undefined && breaker.succeededSince(since)) {
        firstRejectedAt.delete(jobId);
        throw new UnrecoverableError(`webhook refused the event: ${reason}`);
      }
      if (since === undefined) remember(firstRejectedAt, jobId, Date.now());
      logger.warn({ jobId, attempt, reason }, 'delivery.refused');
      return postpone(job, token, retry.baseDelayMs, metrics);
    }
    logger.warn({ jobId, attempt, reason }, 'delivery.failed');
    throw new DeliveryError(`webhook: ${reason}`, retryAfterMs);
  };
}

/** Back to the delayed set without spending an attempt (BullMQ counts DelayedError as no attempt). */
async function postpone(job: Job<EventJob>, token: string | undefined, delayMs: number, metrics: DispatcherMetrics): Promise<never> {
  metrics.postponed();
  await job.moveToDelayed(Date.now() + delayMs, token);
  throw new DelayedError();
}

function remember(map: Map<string, number>, key: string, value: number): void {
  if (map.size >= MAX_REJECTIONS_TRACKED) map.delete(map.keys().next().value as string);
  map.set(key, value);
}
