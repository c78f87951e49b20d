import { Counter, type Registry } from 'prom-client';
import type { Logger } from '../../shared/observability/logger.js';

/**
 * What the board records about the actions that stop or lose deliveries.
 * Discarding dead letters, the one destructive action it allows, is a log
 * line naming the board user and the events, and a counter, so an event that
 * never reached the endpoint can always be traced to the person who gave it
 * up. A pause or resume of a queue is a log line naming the user. Each
 * names the destination whose queue it was.
 */
export class BoardAudit {
  readonly #logger: Logger;
  readonly #discarded: Counter;

  /** `user` is the board's basic-auth user, or "anonymous" on a board without credentials. */
  constructor(
    readonly user: string,
    deps: { logger: Logger; registry?: Registry },
  ) {
    this.#logger = deps.logger;
    this.#discarded = new Counter({
      name: 'opencti_webhook_dead_letters_discarded_total',
      help: 'Dead letters (events in the failed set) removed on the board',
      labelNames: ['destination'],
      registers: deps.registry ? [deps.registry] : [],
    });
  }

  queuePaused(destination: string): void {
    this.#logger.info({ user: this.user, destination }, 'board.queue_paused');
  }

  queueResumed(destination: string): void {
    this.#logger.info({ user: this.user, destination }, 'board.queue_resumed');
  }

  /** `eventIds` are job ids of the failed set: each is one event's id (its webhook-id), as packs never fail whole. */
  deadLettersDiscarded(destination: string, eventIds: readonly string[]): void {
    if (eventIds.length === 0) return;
    this.#discarded.inc({ destination }, eventIds.length);
    this.#logger.warn({ user: this.user, destination, count: eventIds.length, eventIds }, 'board.dead_letters_discarded');
  }
}
