import { ErrorCode } from '../../shared/errors/codes.js';
import type { Logger } from '../../shared/observability/logger.js';
import { backoffDelayMs, type Backoff } from '../../shared/timing/backoff.js';
import { parsePyctiState } from './connector-state.js';
import { GraphqlError, logPlatformFailure, type ConnectorIdentity, type OpenctiApi } from './opencti-api.js';

export interface ConnectorPresenceOptions {
  api: OpenctiApi;
  connector: ConnectorIdentity;
  /** pycti: 40 s; the platform shows a connector alive for 5 minutes after its last ping. */
  pingIntervalMs: number;
  /** The pycti state string to send with each ping (the committed position). */
  state: () => string;
  /** A ping was answered with an empty state: someone reset it in OpenCTI. */
  onReset: () => void;
  logger: Logger;
  /** Registration retries (refusals back off ten times further). @defaultValue { initialMs: 1000, maxMs: 60000 } */
  retryDelay?: Backoff;
}

/** The first answer to registration: the state the platform holds, or why it refused. */
export type Registration = { state: string | null } | { refused: GraphqlError };

/**
 * The connector as OpenCTI sees it (reference §6): registered at start
 * (retried with backoff for as long as it fails, while the stream is read
 * anyway), then pinged right away and every `pingIntervalMs` with the
 * committed position in pycti's format, so the platform lists it alive with
 * an up-to-date state. A ping answered with an empty state that differs from
 * the one sent is a reset done in the UI (§5.6): `onReset` is called. A ping
 * refused because the connector was deleted in the UI registers it again.
 */
export class ConnectorPresence {
  readonly #options: ConnectorPresenceOptions;
  readonly #abort = new AbortController();
  readonly #firstAnswer: Promise<Registration>;
  #answer!: (registration: Registration) => void;
  #timer: NodeJS.Timeout | undefined;
  #registered = false;
  #pinging = false;
  #stopped = false;
  #failures = 0;
  #pingFailing = false;
  /**
   * The platform holds a state a reset could have emptied: one of our pings
   * was stored, or registration found a state (possibly reset while we were
   * away). Guards against a platform that never keeps the state, which would
   * otherwise look like a reset at every ping and re-read the stream forever.
   */
  #mayReset = false;
  #warnedNotKept = false;

  constructor(options: ConnectorPresenceOptions) {
    this.#options = options;
    this.#firstAnswer = new Promise((resolve) => (this.#answer = resolve));
  }

  /** Starts registering; resolves with the platform's first answer (later failures are retried in the background). */
  register(): Promise<Registration> {
    void this.#register();
    return this.#firstAnswer;
  }

  /** Pings as soon as the connector is registered, then every interval. Call once the position to report is known. */
  startPinging(): void {
    this.#pinging = true;
    if (this.#registered) this.#schedule(() => this.#ping(), 0);
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#abort.abort();
  }

  async #register(): Promise<void> {
    const { api, connector, logger } = this.#options;
    try {
      const registered = await api.registerConnector(connector, this.#abort.signal);
      if (this.#stopped) return;
      logger.info({ connectorId: connector.id, scope: connector.scope, attempts: this.#failures + 1 }, 'platform.registered');
      this.#failures = 0;
      this.#registered = true;
      this.#mayReset = registered.connector_state !== null;
      this.#answer({ state: registered.connector_state });
      if (this.#pinging) this.#schedule(() => this.#ping(), 0);
    } catch (error) {
      if (this.#stopped) return;
      const delays = this.#options.retryDelay ?? { initialMs: 1_000, maxMs: 60_000 };
      // A refusal (missing capability) is fixed by a person, not by the next attempt: ask less often.
      const refused = error instanceof GraphqlError;
      const retryInMs = backoffDelayMs(this.#failures, refused ? { ...delays, maxMs: delays.maxMs * 10 } : delays);
      this.#failures += 1;
      if (error instanceof GraphqlError) {
        logger.error({ code: error.platformCode, platformMessage: error.message, retryInMs, hint: refusalHint(error) }, 'platform.registration_refused');
        this.#answer({ refused: error });
      } else {
        logPlatformFailure(logger, 'platform.registration_failed', error, { retryInMs, hint: 'cannot reach OpenCTI to register the connector; retrying' });
      }
      this.#schedule(() => this.#register(), retryInMs);
    }
  }

  async #ping(): Promise<void> {
    const { api, connector, logger, state } = this.#options;
    const sent = state();
    try {
      const { connector_state: held } = await api.pingConnector(connector.id, sent, this.#abort.signal);
      if (this.#stopped) return;
      if (this.#pingFailing) logger.info('platform.ping_recovered');
      this.#pingFailing = false;
      logger.debug({ state: sent }, 'platform.pinged');
      if (held === sent) this.#mayReset = true;
      else this.#stateChanged(sent, held);
    } catch (error) {
      if (this.#stopped) return;
      if (error instanceof GraphqlError && error.code === ErrorCode.platformConnectorMissing) {
        logger.warn({ connectorId: connector.id, hint: 'the connector was deleted in OpenCTI; registering it again' }, 'platform.connector_missing');
        this.#registered = false;
        await this.#register();
        return;
      }
      if (!this.#pingFailing) logPlatformFailure(logger, 'platform.ping_failed', error, { hint: 'OpenCTI may show the connector as not alive until a ping succeeds' });
      this.#pingFailing = true;
    }
    this.#schedule(() => this.#ping(), this.#options.pingIntervalMs);
  }

  #stateChanged(sent: string, held: string | null): void {
    if (parsePyctiState(held) === undefined) {
      if (this.#mayReset) {
        this.#mayReset = false;
        this.#options.onReset();
      } else if (!this.#warnedNotKept) {
        this.#warnedNotKept = true;
        this.#options.logger.warn({ held, hint: 'OpenCTI did not keep the state sent with the ping; not taken for a reset' }, 'platform.state_not_kept');
      }
      return;
    }
    // Someone wrote another position through the API. Redis holds the
    // position that matches the queue, so it stays; the next ping restores it.
    this.#options.logger.warn({ sent, held: held?.slice(0, 200), hint: 'OpenCTI holds another state than the one sent; keeping the stored position' }, 'platform.state_differs');
  }

  #schedule(task: () => Promise<void>, delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void task(), delayMs);
  }
}

function refusalHint(error: GraphqlError): string {
  if (error.unauthenticated) return 'OpenCTI rejected OPENCTI_TOKEN; the connector is not registered (retrying)';
  if (error.platformCode === 'FORBIDDEN_ACCESS') {
    return "the user of OPENCTI_TOKEN may not register connectors (it needs the capability to use the connectors API); the stream is read anyway, but OpenCTI neither lists the connector nor keeps its state (retrying)";
  }
  return 'OpenCTI refused to register the connector (retrying)';
}
