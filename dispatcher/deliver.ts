import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '../shared/logger.js';
import { EventJobSchema, type EventJob } from '../shared/queue.js';
import type { DispatcherMetrics } from './metrics.js';
import { classifyError, classifyStatus, isDelivered } from './outcome.js';
import type { WebhookClient } from './webhook-client.js';

export interface DeliverDeps {
  client: WebhookClient;
  metrics: DispatcherMetrics;
  logger: Logger;
}

/** A failed attempt; BullMQ schedules the retry (see backoff.ts). */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';
}

/**
 * The BullMQ processor, the hot path: POST the stored body as is, return on
 * a 2xx, throw otherwise. The body is never parsed or re-serialised.
 */
export function createDeliver({ client, metrics, logger }: DeliverDeps) {
  return async (job: Job<EventJob>): Promise<void> => {
    const parsed = EventJobSchema.safeParse(job.data);
    if (!parsed.success || job.id === undefined) throw new UnrecoverableError('job data is not an OpenCTI event (was it added by hand?)');
    const { event, streamId, body, receivedAt } = parsed.data;
    const attempt = job.attemptsMade + 1;
    const started = performance.now();
    let status: number;
    try {
      status = await client.post(body, { 'webhook-id': job.id, 'x-opencti-event': event, 'x-opencti-event-id': streamId });
    } catch (error) {
      const result = classifyError(error);
      metrics.attempt(result, performance.now() - started);
      const code = (error as { code?: string }).code;
      logger.warn({ jobId: job.id, attempt, result, code }, 'delivery.failed');
      throw new DeliveryError(result === 'timeout' ? 'webhook request timed out' : `webhook unreachable (${code ?? (error as Error).name})`);
    }
    const durationMs = performance.now() - started;
    metrics.attempt(classifyStatus(status), durationMs);
    if (!isDelivered(status)) {
      logger.warn({ jobId: job.id, attempt, status }, 'delivery.failed');
      throw new DeliveryError(`webhook answered HTTP ${status}`);
    }
    metrics.delivered(event, receivedAt);
    logger.debug({ jobId: job.id, attempt, status, durationMs: Math.round(durationMs) }, 'delivery.succeeded');
  };
}
