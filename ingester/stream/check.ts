import { ErrorCode } from '../../shared/errors/codes.js';
import { OwhError } from '../../shared/errors/owh-error.js';
import type { Logger } from '../../shared/observability/logger.js';
import { backoffDelayMs, type Backoff } from '../../shared/timing/backoff.js';
import { sleep } from '../../shared/timing/sleep.js';
import { GraphqlError, logPlatformFailure, type OpenctiApi } from '../platform/opencti-api.js';

/** A problem no retry can fix: the process logs it and exits 1. */
export class StartupError extends OwhError {
  constructor(
    readonly code: typeof ErrorCode.tokenRejected | typeof ErrorCode.streamUnknown,
    message: string,
  ) {
    super(message);
  }
}

export interface StreamCheckDeps {
  api: OpenctiApi;
  /** CONNECTOR_LIVE_STREAM_ID */
  streamId: string;
  logger: Logger;
  signal: AbortSignal;
}

export type StreamCheck = 'live' | 'stopped' | 'unverified';

export const TOKEN_REJECTED = 'OpenCTI rejected OPENCTI_TOKEN: check that it is the API token of an existing, enabled user (Profile → API access)';

/**
 * Checks at start that the platform accepts the token and that the live
 * stream exists and is visible to the token's user (reference §6.1, §7), so
 * a wrong CONNECTOR_LIVE_STREAM_ID or token stops the process with a clear
 * message instead of an endless series of 401s. `live` (the whole stream) is
 * not a collection and is not checked. An unreachable platform is not an
 * error: the stream client retries anyway.
 */
export async function checkLiveStream({ api, streamId, logger, signal }: StreamCheckDeps): Promise<StreamCheck> {
  try {
    const { version } = await api.about(signal);
    logger.info({ platformVersion: version }, 'platform.reachable');
    if (streamId === 'live') return 'live';
    const collection = await api.streamCollection(streamId, signal);
    if (!collection) throw unknownStream(streamId);
    logger.info({ streamId, streamName: collection.name, live: collection.stream_live, public: collection.stream_public }, 'stream.checked');
    return collection.stream_live ? 'live' : 'stopped';
  } catch (error) {
    if (error instanceof StartupError || signal.aborted) throw error;
    if (error instanceof GraphqlError && error.unauthenticated) throw new StartupError(ErrorCode.tokenRejected, TOKEN_REJECTED);
    if (error instanceof GraphqlError) {
      logger.warn({ code: error.platformCode, platformMessage: error.message, hint: 'OpenCTI refused to describe the live stream to this token; reading it anyway' }, 'stream.unchecked');
    } else {
      logPlatformFailure(logger, 'platform.unreachable', error, { hint: 'cannot check the live stream now; reading it will be retried until OpenCTI answers' });
    }
    return 'unverified';
  }
}

/**
 * A stopped stream (OpenCTI answers 410) is waited for, not crash-looped:
 * polls the collection with backoff until it is started again.
 */
export async function waitUntilStarted({ api, streamId, logger, signal }: StreamCheckDeps, delays: Backoff = { initialMs: 1_000, maxMs: 30_000 }): Promise<void> {
  logger.warn({ streamId, code: ErrorCode.streamStopped, hint: 'the live stream is stopped in OpenCTI (Data sharing → Live streams); waiting for it to be started' }, 'stream.stopped');
  for (let attempt = 0; ; attempt += 1) {
    await sleep(backoffDelayMs(attempt, delays), { signal });
    signal.throwIfAborted();
    try {
      const collection = await api.streamCollection(streamId, signal);
      if (!collection) throw unknownStream(streamId);
      if (collection.stream_live) {
        logger.info({ streamId, hint: 'the live stream was started in OpenCTI' }, 'stream.started');
        return;
      }
    } catch (error) {
      if (error instanceof StartupError || signal.aborted) throw error;
      logPlatformFailure(logger, 'stream.check_failed', error, { hint: 'cannot tell whether the live stream was started; asking again' });
    }
  }
}

function unknownStream(streamId: string): StartupError {
  return new StartupError(ErrorCode.streamUnknown, unknownStreamMessage(streamId));
}

export function unknownStreamMessage(streamId: string): string {
  return `CONNECTOR_LIVE_STREAM_ID: OpenCTI has no live stream ${JSON.stringify(streamId)} visible to the user of OPENCTI_TOKEN; check the id (Data sharing → Live streams) and that this user may access the stream`;
}
