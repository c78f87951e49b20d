import type { Queue } from 'bullmq';
import type { ErrorCode } from '../../shared/errors/codes.js';
import type { Logger } from '../../shared/observability/logger.js';
import { EventJobSchema, PACK_JOB_NAME, PackJobSchema, type EventJob } from '../../shared/queue/contract.js';
import type { EventFilter } from '../../shared/routing/event-filter.js';
import { internal } from '../delivery/internal-error.js';
import type { DispatcherMetrics } from '../metrics.js';
import { classifyError, describeError, judgeStatus, resultCode } from '../webhook/outcome.js';
import type { RateLimiter } from './rate-limiter.js';
import type { WebhookClient } from '../webhook/client.js';
import { FormatError, type Format, type FormattedRequest } from '../formats/format.js';

/** At most one witness POST per process in this long: each one is a duplicate for the endpoint. */
const WITNESS_INTERVAL_MS = 10_000;
/** Completed jobs looked through, newest first, for a witness after a restart. */
const COMPLETED_SCANNED = 20;

/** An event the endpoint accepted (2xx), kept to be sent again. */
export interface WitnessEvent extends Pick<EventJob, 'event' | 'streamId' | 'body'> {
  id: string;
}

export type WitnessVerdict =
  /** The endpoint accepted it again: it works, so the refusals pending are the events' fault. */
  | { kind: 'accepted' }
  /** Refused with a 4xx too: the endpoint refuses everything. */
  | { kind: 'refused'; reason: string }
  /** No answer, or one worth retrying (5xx, 429, 408, 3xx, timeout, network): the outage rules decide. */
  | { kind: 'failed'; reason: string; retryAfterMs: number | undefined; endpointLevel: boolean; code?: ErrorCode | undefined }
  /** No event is known to have been accepted: nothing can tell an endpoint refusing everything from a bad event. */
  | { kind: 'unavailable' }
  /** Asked less than WITNESS_INTERVAL_MS ago. */
  | { kind: 'skipped' };

export interface WitnessDeps {
  client: WebhookClient;
  /** The destination's FORMAT, applied to the witness as to any event. */
  format: Format;
  queue: Queue;
  metrics: DispatcherMetrics;
  logger: Logger;
  filter?: EventFilter | undefined;
  rateLimiter?: RateLimiter | undefined;
}

/**
 * Asks the endpoint whether it still accepts anything, when a 4xx could be
 * the event's fault or the endpoint's (a revoked token answers 401 to every
 * event): it POSTs again the last event this process delivered, byte for byte
 * with its webhook-id (the receiver dedupes it), or after a restart the
 * newest event of the queue's completed jobs. One POST per
 * WITNESS_INTERVAL_MS at most; callers asking at the same time share it.
 */
export class Witness {
  readonly #deps: WitnessDeps;
  #last: WitnessEvent | undefined;
  #checkedAt = Number.NEGATIVE_INFINITY;
  #checking: Promise<WitnessVerdict> | undefined;
  /** When the queue's history last had no witness: looked at again only after WITNESS_INTERVAL_MS. */
  #historyEmptyAt = Number.NEGATIVE_INFINITY;

  constructor(deps: WitnessDeps) {
    this.#deps = deps;
  }

  /** After a 2xx: this event becomes the witness. */
  remember(id: string, { event, streamId, body }: EventJob): void {
    this.#last = { id, event, streamId, body };
  }

  /** Whether a witness is known (after a restart, looks in the queue's history first). */
  async available(): Promise<boolean> {
    if (this.#last === undefined && performance.now() - this.#historyEmptyAt >= WITNESS_INTERVAL_MS) {
      this.#last = await this.#fromHistory();
      if (this.#last === undefined) this.#historyEmptyAt = performance.now();
    }
    return this.#last !== undefined;
  }

  async check(): Promise<WitnessVerdict> {
    if (!(await this.available())) return { kind: 'unavailable' };
    if (this.#checking) return this.#checking;
    if (performance.now() - this.#checkedAt < WITNESS_INTERVAL_MS) return { kind: 'skipped' };
    this.#checkedAt = performance.now();
    this.#checking = this.#post().finally(() => (this.#checking = undefined));
    return this.#checking;
  }

  async #post(): Promise<WitnessVerdict> {
    const { client, format, rateLimiter, metrics, logger } = this.#deps;
    const witness = this.#last!;
    // Formatted as it was when accepted; a format that fails now tells nothing about the endpoint.
    let request: FormattedRequest;
    try {
      request = await format.format({ webhookId: witness.id, event: witness.event, streamId: witness.streamId, body: witness.body });
    } catch (error) {
      if (!(error instanceof FormatError)) throw error;
      logger.warn({ witnessId: witness.id, code: error.code, reason: error.message }, 'witness.format_failed');
      return { kind: 'unavailable' };
    }
    if (rateLimiter) metrics.rateLimitWait(await internal('rate_limit', () => rateLimiter.acquire()));
    let verdict: Extract<WitnessVerdict, { kind: 'accepted' | 'refused' | 'failed' }>;
    try {
      const response = await client.post(witness.id, request.body, { ...request.headers, 'x-opencti-event': witness.event, 'x-opencti-event-id': witness.streamId });
      const judged = judgeStatus(response.status, response.retryAfter);
      const reason = `HTTP ${response.status}${response.excerpt ? `: ${response.excerpt}` : ''}`;
      if (judged.kind === 'delivered') verdict = { kind: 'accepted' };
      else if (judged.kind === 'rejected') verdict = { kind: 'refused', reason };
      else verdict = { kind: 'failed', reason, retryAfterMs: judged.retryAfterMs, endpointLevel: false };
    } catch (error) {
      const result = classifyError(error);
      verdict = { kind: 'failed', reason: describeError(error, result), retryAfterMs: undefined, endpointLevel: result === 'tls', code: resultCode(result) };
    }
    metrics.witnessChecked(verdict.kind);
    logger.info({ witnessId: witness.id, verdict: verdict.kind, ...('reason' in verdict ? { reason: verdict.reason } : {}) }, 'witness.checked');
    return verdict;
  }

  /** The newest event of the completed jobs that was POSTed (not filtered out) and accepted. */
  async #fromHistory(): Promise<WitnessEvent | undefined> {
    const { queue, filter, logger } = this.#deps;
    try {
      for (const job of await queue.getCompleted(0, COMPLETED_SCANNED - 1)) {
        const candidates: WitnessEvent[] = [];
        if (job.name === PACK_JOB_NAME) {
          const pack = PackJobSchema.safeParse(job.data);
          // Events that left the pack may not have been accepted; a pack without any is all delivered or filtered.
          const { unpacked } = (job.returnvalue ?? {}) as { unpacked?: unknown };
          if (pack.success && unpacked === 0) candidates.push(...[...pack.data.events].reverse());
        } else {
          const single = EventJobSchema.safeParse(job.data);
          if (single.success && job.id !== undefined) candidates.push({ ...single.data, id: job.id });
        }
        const posted = candidates.find((candidate) => filter?.(candidate.event, candidate.body) === undefined);
        if (posted) return { id: posted.id, event: posted.event, streamId: posted.streamId, body: posted.body };
      }
    } catch (error) {
      logger.warn({ err: { message: (error as Error).message } }, 'witness.history_unreadable');
    }
    return undefined;
  }
}
