import type { Logger } from '../../shared/observability/logger.js';
import type { EventJob } from '../../shared/queue/contract.js';
import type { Enqueuer } from '../commit/enqueuer.js';
import { classifyFrame, eventId, type RawFrame } from './frame.js';
import type { IngesterMetrics } from '../metrics.js';
import type { PlatformFrames } from './platform-frames.js';
import { compareStreamIds, isStreamId, parseStreamId, streamIdMs } from '../../shared/opencti/stream-id.js';
import type { StreamPosition } from '../position/stream-position.js';

export interface FrameHandlerDeps {
  position: StreamPosition;
  enqueuer: Enqueuer;
  metrics: IngesterMetrics;
  platformFrames: PlatformFrames;
  /** Connector state resets so far; part of every event id (see eventId). */
  generation: () => number;
  logger: Logger;
}

/** What the ingester does with each frame: enqueue it, move the position, or log and skip it; every id read feeds the stream lag. Never throws. */
export function createFrameHandler({ position, enqueuer, metrics, platformFrames, generation, logger }: FrameHandlerDeps): (raw: RawFrame) => void {
  return (raw) => {
    // Parsed once here, for the lag, the classification and the position.
    const at = raw.id === '' ? undefined : parseStreamId(raw.id);
    if (at) metrics.idSeen(at.ms);
    const frame = classifyFrame(raw, at);
    switch (frame.kind) {
      case 'event': {
        const id = eventId(frame.event, frame.streamId, frame.data, generation());
        if (!position.admit(frame.streamId, id, frame.at)) {
          metrics.frame('replayed');
          logger.debug({ eventId: id }, 'event.replay_skipped');
          return;
        }
        metrics.frame('event');
        logger.debug({ eventId: id, event: frame.event }, 'event.received');
        // Destinations that order by entity add `entity` when the event is routed (routing/router.ts).
        const job: EventJob = { event: frame.event, streamId: frame.streamId, body: frame.data, receivedAt: Date.now() };
        enqueuer.add({ eventId: id, job });
        return;
      }
      case 'heartbeat':
        metrics.frame('heartbeat');
        if (position.heartbeat(frame.streamId, frame.at)) enqueuer.positionChanged();
        return;
      case 'connected':
        metrics.frame('connected');
        reportConnected(frame.data, position.resumeFrom, logger, metrics);
        return;
      case 'platform':
        metrics.frame('ignored');
        platformFrames.handle(frame.event, frame.data);
        return;
      case 'ignored':
        metrics.frame('ignored');
        logger.debug({ event: frame.event, reason: frame.reason }, 'frame.ignored');
        return;
      case 'malformed':
        metrics.frame('malformed');
        logger.warn({ event: frame.event.slice(0, 64), streamId: frame.id.slice(0, 64), dataLength: raw.data.length, reason: frame.reason }, 'frame.malformed');
        return;
    }
  };
}

/** The connected frame is the only place the platform reveals that a resume point was trimmed away (reference §4.4). */
function reportConnected(data: string, resumeFrom: string, logger: Logger, metrics: IngesterMetrics): void {
  let info: { firstEventId?: unknown; lastEventId?: unknown; streamSize?: unknown } = {};
  try {
    info = JSON.parse(data) as typeof info;
  } catch {
    logger.warn({ dataLength: data.length, hint: 'connected frame is not JSON' }, 'frame.malformed');
  }
  logger.info({ resumeFrom, firstEventId: info.firstEventId, lastEventId: info.lastEventId, streamSize: info.streamSize }, 'stream.connected');
  const first = typeof info.firstEventId === 'string' && isStreamId(info.firstEventId) ? info.firstEventId : undefined;
  // The platform sends what follows the resume id. When its oldest retained
  // event is later, what lay in between was trimmed, unless that event
  // happens to be the very next one: the platform cannot tell, so neither can we.
  if (!first || resumeFrom === '0-0' || compareStreamIds(first, resumeFrom) <= 0) return;
  const gapMs = streamIdMs(first) - streamIdMs(resumeFrom);
  if (gapMs <= 0) return;
  metrics.gapDetected(gapMs);
  logger.warn(
    { resumeFrom, firstEventId: first, gapMs, hint: 'OpenCTI no longer retains the events right after the committed position; those between it and the oldest retained event are probably lost (raise the platform\'s redis:trimming, or use recover mode)' },
    'stream.gap',
  );
}
