import { isStreamId, streamIdMs } from '../../ingester/stream-id.js';
import { cursorKey, queuePrefix } from '../../shared/queue.js';
import { ago, isoTime, table } from '../format.js';
import type { Command } from './command.js';

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;

/**
 * The dispatcher's view of the webhook endpoint, a hash with at least a
 * `state` field; written by the dispatcher's outage handling. Absent means
 * nothing was ever recorded: the dispatchers deliver normally.
 */
function endpointKey(connectorId: string): string {
  return `${queuePrefix(connectorId)}:endpoint`;
}

export const status: Command = async ({ queue, redis, connectorId, now }) => {
  const [counts, paused, cursor, endpoint, newestCompleted] = await Promise.all([
    queue.getJobCounts(...STATES),
    queue.isPaused(),
    redis.hgetall(cursorKey(connectorId)),
    redis.hgetall(endpointKey(connectorId)),
    queue.getJobs(['completed'], 0, 0),
  ]);
  const position = cursor.resumeFrom && isStreamId(cursor.resumeFrom) ? cursor.resumeFrom : undefined;
  const positionMs = position === undefined ? undefined : streamIdMs(position);
  const lastDeliveryMs = newestCompleted[0]?.finishedOn;
  const { state = 'delivering', ...endpointDetails } = endpoint;
  const queueCounts = Object.fromEntries(STATES.map((s) => [s, counts[s] ?? 0]));

  const json = {
    connectorId,
    queue: { ...queueCounts, paused },
    stream: position === undefined ? null : { position, positionAt: isoTime(positionMs), ageSeconds: ageSeconds(positionMs, now) },
    endpoint: { state, ...endpointDetails },
    lastDelivery: lastDeliveryMs === undefined ? null : { at: isoTime(lastDeliveryMs), ageSeconds: ageSeconds(lastDeliveryMs, now) },
  };
  const details = Object.entries(endpointDetails).map(([key, value]) => `${key}=${value}`).join(', ');
  const text = table(['', ''], [
    ['connector', connectorId],
    ['queue', `${STATES.map((s) => `${s} ${queueCounts[s]}`).join(', ')}${paused ? ' (PAUSED)' : ''}`],
    ['stream', describePosition(position, positionMs, now)],
    ['endpoint', details ? `${state} (${details})` : state],
    ['last delivery', lastDeliveryMs === undefined ? 'none in the kept history' : ago(lastDeliveryMs, now)],
  ]).replace(/^\s*\n/, '');
  return { json, text, ok: true };
};

function describePosition(position: string | undefined, positionMs: number | undefined, now: number): string {
  if (position === undefined) return 'no position stored yet (the ingester has committed nothing)';
  if (!positionMs) return `${position} (beginning of the stream)`;
  return `${position}, ${ago(positionMs, now)}`;
}

function ageSeconds(epochMs: number | undefined, now: number): number | null {
  return epochMs ? Math.max(0, Math.round((now - epochMs) / 1000)) : null;
}
