import { isStreamId, streamIdMs } from '../../shared/opencti/stream-id.js';
import type { EndpointState } from '../../shared/queue/contract.js';
import type { Job } from 'bullmq';
import { PACK_JOB_NAME, cursorKey, endpointKey, orderingModeKey } from '../../shared/queue/contract.js';
import { ago, isoTime, table } from '../format.js';
import type { Command } from './command.js';

const STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;
/** Completed jobs looked at for the last delivery. */
const RECENT_COMPLETED = 20;

/** A completed pack whose events all left it for jobs of their own (dispatcher/delivery/deliver-pack.ts) delivered nothing. */
function deliveredSomething(job: Job): boolean {
  const result = job.returnvalue as { done?: unknown } | null | undefined;
  return job.name !== PACK_JOB_NAME || typeof result?.done !== 'number' || result.done > 0;
}

/**
 * The endpoint breaker's shared hash (dispatcher/endpoint/breaker.ts) in the
 * words of its metric and logs: absent means delivering, `open` paused until
 * `probeAt`, `half-open` probing, `closing` resuming (delivering again).
 */
const ENDPOINT_STATES: Record<string, EndpointState> = { open: 'paused', 'half-open': 'probing', closing: 'delivering' };
const ENDPOINT_TIMES = new Set(['openedAt', 'probeAt']);

function describeEndpoint(shared: Record<string, string>): { state: EndpointState } & Record<string, string> {
  const { state: sharedState, ...fields } = shared;
  const details = Object.fromEntries(
    Object.entries(fields).map(([key, value]) => [key, ENDPOINT_TIMES.has(key) ? (isoTime(Number(value)) ?? value) : value]),
  );
  if (sharedState === undefined) return { state: 'delivering', ...details };
  return { state: ENDPOINT_STATES[sharedState] ?? 'delivering', sharedState, ...details };
}

export const status: Command = async ({ queue, redis, connectorId, now }) => {
  const [counts, paused, cursor, endpoint, newestCompleted, ordering] = await Promise.all([
    queue.getJobCounts(...STATES),
    queue.isPaused(),
    redis.hgetall(cursorKey(connectorId)),
    redis.hgetall(endpointKey(connectorId)),
    queue.getJobs(['completed'], 0, RECENT_COMPLETED - 1),
    redis.get(orderingModeKey(connectorId)),
  ]);
  const position = cursor.resumeFrom && isStreamId(cursor.resumeFrom) ? cursor.resumeFrom : undefined;
  const positionMs = position === undefined ? undefined : streamIdMs(position);
  const lastDeliveryMs = newestCompleted.find(deliveredSomething)?.finishedOn;
  const { state, ...endpointDetails } = describeEndpoint(endpoint);
  const queueCounts = Object.fromEntries(STATES.map((s) => [s, counts[s] ?? 0]));

  const json = {
    connectorId,
    queue: { ...queueCounts, paused },
    stream: position === undefined ? null : { position, positionAt: isoTime(positionMs), ageSeconds: ageSeconds(positionMs, now) },
    endpoint: { state, ...endpointDetails },
    lastDelivery: lastDeliveryMs === undefined ? null : { at: isoTime(lastDeliveryMs), ageSeconds: ageSeconds(lastDeliveryMs, now) },
    /** WEBHOOK_ORDERING of the ingester's last start; null before its first. */
    ordering,
  };
  const details = Object.entries(endpointDetails).map(([key, value]) => `${key}=${value}`).join(', ');
  const text = table(['', ''], [
    ['connector', connectorId],
    // Jobs, not events: a pack holds up to INGESTER_EVENTS_PER_JOB events.
    ['queue jobs', `${STATES.map((s) => `${s} ${queueCounts[s]}`).join(', ')}${paused ? ' (PAUSED)' : ''}`],
    ['stream', describePosition(position, positionMs, now)],
    ['endpoint', details ? `${state} (${details})` : state],
    ['last delivery', lastDeliveryMs === undefined ? 'none in the kept history' : ago(lastDeliveryMs, now)],
    ['ordering', ordering === 'entity' ? 'per entity (WEBHOOK_ORDERING=entity)' : ordering === null ? 'unknown (the ingester never started)' : 'none'],
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
