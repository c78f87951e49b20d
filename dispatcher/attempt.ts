import type { Logger } from '../shared/logger.js';
import type { EventJob } from '../shared/queue.js';
import type { EndpointBreaker } from './endpoint-breaker.js';
import type { EventFilter } from './event-filter.js';
import type { DispatcherMetrics } from './metrics.js';
import { classifyError, classifyStatus, describeError, judgeStatus, type AttemptResult } from './outcome.js';
import type { RateLimiter } from './rate-limiter.js';
import type { WebhookClient } from './webhook-client.js';

export interface AttemptDeps {
  client: WebhookClient;
  breaker: EndpointBreaker;
  metrics: DispatcherMetrics;
  logger: Logger;
  /** WEBHOOK_EVENT_TYPES / WEBHOOK_ENTITY_TYPES, when set. */
  filter?: EventFilter | undefined;
  /** WEBHOOK_RATE_LIMIT_PER_SECOND, when set. */
  rateLimiter?: RateLimiter | undefined;
}

/** Events whose 4xx is awaiting proof that the endpoint works for others; bounded, oldest forgotten first. */
const MAX_REJECTIONS_TRACKED = 10_000;

/** What one attempt at one event came to; the caller turns it into BullMQ moves. */
export type Attempted =
  /** 2xx, or filtered out without a request. */
  | { kind: 'done' }
  /** The endpoint is down (breaker open) or refused the TLS handshake: wait, attempts untouched. */
  | { kind: 'endpoint_down' }
  /** A 4xx not yet proven to be the event's fault: wait a base delay, attempts untouched. */
  | { kind: 'refused' }
  /** A 4xx after the endpoint accepted other events since the first refusal: dead-letter it. */
  | { kind: 'rejected'; message: string }
  /** Anything else: an attempt charged to the event, retried with backoff. */
  | { kind: 'failed'; message: string; retryAfterMs: number | undefined };

/**
 * One attempt at one event, the hot path: POST the stored body as is (never
 * parsed or re-serialised) and decide, in one place, what a failure costs.
 * Events outside the allow-lists are done without a request. `claim` runs
 * after the filter (per-entity ordering: wait for the object's turn); then the
 * request takes its slot from the shared rate limit. A 4xx costs nothing
 * until this process has seen the endpoint accept another event after the
 * first refusal: a 401 on everything is the endpoint's fault, not the event's.
 */
export function createAttempt({ client, breaker, metrics, logger, filter, rateLimiter }: AttemptDeps) {
  const firstRejectedAt = new Map<string, number>();

  return async (id: string, { event, streamId, body, receivedAt }: EventJob, attempt: number, claim?: () => Promise<void>): Promise<Attempted> => {
    const filtered = filter?.(event, body);
    if (filtered !== undefined) {
      metrics.filtered(filtered);
      logger.debug({ jobId: id, event, reason: filtered }, 'delivery.filtered');
      return { kind: 'done' };
    }
    await claim?.();
    if (rateLimiter) metrics.rateLimitWait(await rateLimiter.acquire());
    const started = performance.now();

    let result: AttemptResult;
    let reason: string;
    let verdict: ReturnType<typeof judgeStatus>;
    try {
      const response = await client.post(id, body, { 'x-opencti-event': event, 'x-opencti-event-id': streamId });
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
      firstRejectedAt.delete(id);
      metrics.delivered(event, receivedAt);
      logger.debug({ jobId: id, attempt, durationMs: Math.round(durationMs) }, 'delivery.succeeded');
      return { kind: 'done' };
    }

    const retryAfterMs = verdict.kind === 'retry' ? verdict.retryAfterMs : undefined;
    if (breaker.recordFailure(reason, retryAfterMs, result === 'tls')) {
      logger.debug({ jobId: id, attempt, reason }, 'delivery.postponed');
      return { kind: 'endpoint_down' };
    }
    if (verdict.kind === 'rejected') {
      const since = firstRejectedAt.get(id);
      if (since !== undefined && breaker.succeededSince(since)) {
        firstRejectedAt.delete(id);
        return { kind: 'rejected', message: `webhook refused the event: ${reason}` };
      }
      if (since === undefined) remember(firstRejectedAt, id, Date.now());
      logger.warn({ jobId: id, attempt, reason }, 'delivery.refused');
      return { kind: 'refused' };
    }
    logger.warn({ jobId: id, attempt, reason }, 'delivery.failed');
    return { kind: 'failed', message: `webhook: ${reason}`, retryAfterMs };
  };
}

function remember(map: Map<string, number>, key: string, value: number): void {
  if (map.size >= MAX_REJECTIONS_TRACKED) map.delete(map.keys().next().value as string);
  map.set(key, value);
}
