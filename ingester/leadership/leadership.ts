import { performance } from 'node:perf_hooks';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../shared/observability/logger.js';
import { isRetryable } from '../../shared/redis/retryable.js';
import { backoffDelayMs } from '../../shared/timing/backoff.js';
import { sleep } from '../../shared/timing/sleep.js';
import type { Lease, LeaseTerm } from './lease.js';

/**
 * Why a term ended: not renewed in time (`expired`), found taken at renewal
 * (`taken`), a commit refused (`fenced`), its start failed with a retryable
 * error (`failed`), or SIGTERM.
 */
export type TermEnd = 'expired' | 'taken' | 'fenced' | 'failed' | 'shutdown';

/** Longest wait before trying to lead again after terms that failed to start. */
const MAX_RETRY_AFTER_FAILED_START_MS = 30_000;

export type Role = 'standby' | 'leader';

export interface LeadershipOptions {
  lease: Lease;
  logger: Logger;
  registry: Registry;
  /**
   * Start reading as leader of `term`. `ended` aborts when the term ends (it
   * may end while starting); `fenced` is for a commit that found the term
   * changed, and does nothing once this term is over.
   */
  lead: (term: LeaseTerm, control: { ended: AbortSignal; fenced: () => void }) => Promise<void>;
  /** Stop reading and committing; `shutdown` is graceful (commit what was read), any other end drops it. */
  stepDown: (end: TermEnd) => Promise<void>;
  /** Called each time the process becomes standby. */
  onStandby?: () => void;
  /**
   * The process can no longer tell what state it is in: a term failed to
   * start with an error no retry cures (see isRetryable), or stepping down
   * failed. Must end the process (the process guard's crash).
   */
  crash: (event: string, error: unknown, context?: Record<string, unknown>) => void;
}

/**
 * Runs for as long as the process does: standby, polling for the lease every
 * tenth of its TTL; leader once it has it, renewing it every quarter of its
 * TTL, until it is lost, then standby again. A leader stops as soon as it can
 * no longer be sure it holds the lease, i.e. when a whole TTL has passed
 * since it sent its last successful renewal (measured on this process's
 * monotonic clock, which starts before Redis's countdown does), or when
 * Redis says someone else holds it. That alone is not enough against a
 * process paused past its TTL (GC, SIGSTOP), whose timers run late: commits
 * are fenced on the term as well (see lease.ts).
 */
export class Leadership {
  readonly #options: LeadershipOptions;
  readonly #renewMs: number;
  readonly #pollMs: number;
  readonly #leader: Gauge;
  readonly #acquired: Counter;
  readonly #lost: Counter<'reason'>;
  #role: Role = 'standby';
  /** Aborted by stop(): ends the wait between two tries at once. */
  readonly #stopping = new AbortController();
  #end: ((end: TermEnd) => void) | undefined;
  #running: Promise<void> | undefined;
  /** Terms in a row whose start failed; the wait before the next try grows with it. */
  #failedStarts = 0;

  constructor(options: LeadershipOptions) {
    this.#options = options;
    this.#renewMs = Math.floor(options.lease.ttlMs / 4);
    this.#pollMs = Math.floor(options.lease.ttlMs / 10);
    const registers = [options.registry];
    this.#leader = new Gauge({ name: 'opencti_webhook_ingester_leader', help: '1 while this ingester holds the lease and reads the stream, 0 while standby', registers });
    this.#acquired = new Counter({ name: 'opencti_webhook_ingester_lease_acquired_total', help: 'Times this ingester became the leader (its first start included)', registers });
    this.#lost = new Counter({ name: 'opencti_webhook_ingester_lease_lost_total', help: 'Times this ingester stopped leading other than by shutdown, by reason: expired, taken, fenced, failed', labelNames: ['reason'], registers });
    this.#leader.set(0);
  }

  get role(): Role {
    return this.#role;
  }

  start(): void {
    this.#running ??= this.#run().catch((error: unknown) => this.#options.crash('lease.loop_failed', error, { role: this.#role }));
  }

  /** Steps down gracefully (see `stepDown`) and releases the lease, so a standby takes over at once. */
  async stop(): Promise<void> {
    this.#stopping.abort();
    this.#end?.('shutdown');
    await this.#running;
  }

  async #run(): Promise<void> {
    const { lease, logger } = this.#options;
    let standbySince: number | undefined;
    while (!this.#stopping.signal.aborted) {
      const askedAt = performance.now();
      let term: LeaseTerm | undefined;
      try {
        term = await lease.tryAcquire();
      } catch (error) {
        logger.warn({ err: error }, 'lease.acquire_failed');
      }
      if (this.#stopping.signal.aborted) {
        if (term) await lease.release(term).catch(() => undefined);
        return;
      }
      if (!term) {
        if (standbySince === undefined) {
          standbySince = Date.now();
          const holder = await lease.holder().catch(() => undefined);
          logger.info({ owner: lease.owner, leader: holder, ttlMs: lease.ttlMs, hint: 'another ingester reads the stream; taking over if its lease expires' }, 'lease.standby');
          this.#options.onStandby?.();
        }
        await sleep(this.#pollMs, { signal: this.#stopping.signal });
        continue;
      }
      logger.info({ epoch: term.epoch, owner: lease.owner, standbyMs: standbySince === undefined ? 0 : Date.now() - standbySince }, 'lease.acquired');
      standbySince = undefined;
      if ((await this.#lead(term, askedAt)) === 'failed') {
        const delayMs = backoffDelayMs(this.#failedStarts - 1, { initialMs: this.#pollMs, maxMs: MAX_RETRY_AFTER_FAILED_START_MS });
        await sleep(delayMs, { signal: this.#stopping.signal });
      }
    }
  }

  /** One term, from acquisition to its end; returns once the process is standby again (or shut down), with why the term ended. */
  async #lead(term: LeaseTerm, askedAt: number): Promise<TermEnd> {
    const { lease, logger } = this.#options;
    const ended = new AbortController();
    let finish!: (reason: TermEnd) => void;
    const end = new Promise<TermEnd>((resolve) => {
      finish = (reason) => {
        if (ended.signal.aborted) return;
        ended.abort();
        resolve(reason);
      };
    });
    this.#end = finish;
    this.#role = 'leader';
    this.#leader.set(1);
    this.#acquired.inc();
    const stopRenewing = this.#renew(term, askedAt, finish);
    // A term may end while it starts (it waits for OpenCTI when no position is stored).
    let failure: unknown;
    const started = this.#options.lead(term, { ended: ended.signal, fenced: () => finish('fenced') }).then(
      () => (this.#failedStarts = 0),
      (error: unknown) => {
        // Redis or OpenCTI out of reach (a Cluster failover outlasting the client's retries): the start
        // committed nothing, so this term is dropped like a lost one and the next one starts afresh.
        if (!isRetryable(error)) this.#options.crash('lease.term_failed', error, { epoch: term.epoch });
        this.#failedStarts += 1;
        failure = error;
        finish('failed');
      },
    );
    await Promise.race([started, end]);
    const reason = await end;
    stopRenewing();
    this.#end = undefined;
    this.#role = 'standby';
    this.#leader.set(0);
    if (reason !== 'shutdown') {
      this.#lost.labels(reason).inc();
      logger.warn({ epoch: term.epoch, reason, ...(failure === undefined ? {} : { err: failure }), hint: 'stopped reading the stream; going back to standby' }, 'lease.lost');
    }
    await this.#options.stepDown(reason);
    if (reason === 'shutdown') {
      const released = await lease.release(term).catch(() => false);
      logger.info({ epoch: term.epoch, released }, 'lease.released');
    }
    // Another ingester may start where this one failed; this one tries again after a pause.
    if (reason === 'failed') await lease.release(term).catch(() => false);
    return reason;
  }

  /** Renews every quarter TTL; ends the term when Redis says it is someone else's, or when a whole TTL passed unconfirmed. */
  #renew(term: LeaseTerm, askedAt: number, end: (reason: TermEnd) => void): () => void {
    const { lease, logger } = this.#options;
    let expiry: NodeJS.Timeout | undefined;
    let inFlight = false;
    let failing = false;
    let over = false;
    const confirmed = (sentAt: number) => {
      clearTimeout(expiry);
      expiry = setTimeout(() => end('expired'), Math.max(0, sentAt + lease.ttlMs - performance.now()));
    };
    confirmed(askedAt);
    const renewal = setInterval(() => {
      if (inFlight) return;
      inFlight = true;
      const sentAt = performance.now();
      lease.renew(term).then(
        (held) => {
          if (over) return;
          if (failing) logger.info({ epoch: term.epoch }, 'lease.renew_recovered');
          failing = false;
          if (held) confirmed(sentAt);
          else end('taken');
        },
        (error: unknown) => {
          if (!over && !failing) logger.warn({ err: error, epoch: term.epoch, hint: 'retrying until the lease expires' }, 'lease.renew_failed');
          failing = true;
        },
      ).finally(() => (inFlight = false));
    }, this.#renewMs);
    return () => {
      over = true;
      clearInterval(renewal);
      clearTimeout(expiry);
    };
  }
}
