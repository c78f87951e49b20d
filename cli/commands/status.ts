import type { Job } from 'bullmq';
import { destinationVariablePrefix } from '../../shared/config/destinations.js';
import { isStreamId, streamIdMs } from '../../shared/opencti/stream-id.js';
import { PACK_JOB_NAME, cursorKey, type EndpointState } from '../../shared/queue/contract.js';
import type { RedisClient } from '../../shared/redis/client.js';
import { ago, isoTime, table } from '../format.js';
import type { Command, CommandDestination } from './command.js';

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

/** The stream position is the connector's; queue, endpoint, last delivery and ordering are each destination's. */
export const status: Command = async ({ destinations, redis, connectorId, now }) => {
  const [cursor, ...states] = await Promise.all([redis.hgetall(cursorKey(connectorId)), ...destinations.map((destination) => destinationStatus(destination, redis, now))]);
  const position = cursor.resumeFrom && isStreamId(cursor.resumeFrom) ? cursor.resumeFrom : undefined;
  const positionMs = position === undefined ? undefined : streamIdMs(position);
  const json = {
    connectorId,
    stream: position === undefined ? null : { position, positionAt: isoTime(positionMs), ageSeconds: ageSeconds(positionMs, now) },
    destinations: states.map(({ json }) => json),
  };
  const rows = [['connector', connectorId], ['stream', describePosition(position, positionMs, now)], ...states.flatMap(({ rows }) => [['', ''], ...rows])];
  return { json, text: table(['', ''], rows).replace(/^\s*\n/, ''), ok: true };
};

async function destinationStatus({ name, configured, keys, queue }: CommandDestination, redis: RedisClient, now: number) {
  const [counts, paused, endpoint, newestCompleted, ordering] = await Promise.all([
    queue.getJobCounts(...STATES),
    queue.isPaused(),
    redis.hgetall(keys.endpoint),
    queue.getJobs(['completed'], 0, RECENT_COMPLETED - 1),
    redis.get(keys.ordering),
  ]);
  const lastDeliveryMs = newestCompleted.find(deliveredSomething)?.finishedOn;
  const { state, ...endpointDetails } = describeEndpoint(endpoint);
  const queueCounts = Object.fromEntries(STATES.map((s) => [s, counts[s] ?? 0]));
  const json = {
    name,
    configured,
    queue: { ...queueCounts, paused },
    endpoint: { state, ...endpointDetails },
    lastDelivery: lastDeliveryMs === undefined ? null : { at: isoTime(lastDeliveryMs), ageSeconds: ageSeconds(lastDeliveryMs, now) },
    /** The destination's ORDERING as the ingester last started with it; null before its first start with this destination. */
    ordering,
  };
  const details = Object.entries(endpointDetails).map(([key, value]) => `${key}=${value}`).join(', ');
  const rows = [
    ['destination', configured ? name : `${name} (not configured: what its queue still holds)`],
    // Jobs, not events: a pack holds up to INGESTER_EVENTS_PER_JOB events.
    ['queue jobs', `${STATES.map((s) => `${s} ${queueCounts[s]}`).join(', ')}${paused ? ' (PAUSED)' : ''}`],
    ['endpoint', details ? `${state} (${details})` : state],
    ['last delivery', lastDeliveryMs === undefined ? 'none in the kept history' : ago(lastDeliveryMs, now)],
    ['ordering', describeOrdering(name, ordering)],
  ];
  return { json, rows };
}

function describeOrdering(destination: string, ordering: string | null): string {
  if (ordering === 'entity') return `per entity (${destinationVariablePrefix(destination)}ORDERING=entity)`;
  return ordering === null ? 'unknown (no ingester has started with this destination)' : 'none';
}

function describePosition(position: string | undefined, positionMs: number | undefined, now: number): string {
  if (position === undefined) return 'no position stored yet (the ingester has committed nothing)';
  if (!positionMs) return `${position} (beginning of the stream)`;
  return `${position}, ${ago(positionMs, now)}`;
}

function ageSeconds(epochMs: number | undefined, now: number): number | null {
  return epochMs ? Math.max(0, Math.round((now - epochMs) / 1000)) : null;
}
