import type { RetryOptions } from 'bullmq';
import { z } from 'zod';

/**
 * The contract between ingester and dispatcher: where the queue lives in Redis
 * and what a job holds. Keys carry the connector id in a hash tag so that
 * several connectors share one Redis and each connector's keys sit in one
 * Redis Cluster slot (BullMQ needs that, and the ingester's MULTI too).
 */
/** The queue of the `default` destination (the WEBHOOK_* one); others add their name (see destinationKeys). */
export const QUEUE_NAME = 'events';

export function queuePrefix(connectorId: string): string {
  return `opencti-webhook:{${connectorId}}`;
}

/** Redis hash holding the ingester's committed stream position. */
export function cursorKey(connectorId: string): string {
  return `${queuePrefix(connectorId)}:stream-cursor`;
}

/**
 * Where one destination lives in Redis: its queue and the state its
 * dispatchers share. `default` (the WEBHOOK_* destination) keeps the names
 * the single-webhook releases used, so an upgrade finds its queue, breaker
 * and lines where they were; every other destination gets its own queue
 * (`events-<name>`) and keys under `destination:<name>:`. All of them carry
 * the connector's hash tag: one Redis Cluster slot, so one MULTI writes an
 * event to every destination with the stream position.
 */
export interface DestinationKeys {
  queueName: string;
  /** Hash of the endpoint outage state shared by every dispatcher (see dispatcher/endpoint/breaker.ts). */
  endpoint: string;
  /**
   * String set while an operator (board or CLI) holds the queue paused, holding
   * who paused it. BullMQ records no actor for a pause, so the endpoint breaker
   * reads this key and never resumes a queue an operator paused.
   */
  operatorPause: string;
  /** The delivery rate limit's schedule, shared by every dispatcher (see dispatcher/endpoint/rate-limiter.ts). */
  rateLimit: string;
  /**
   * The destination's ordering mode (`none` or `entity`) as the ingester last
   * started with it: dispatchers compare it with their own setting and say when
   * the two differ (see dispatcher/delivery/entity-order.ts).
   */
  ordering: string;
  /** Prefix of the per-entity lines (shared/queue/entity-order.ts). */
  orderScope: string;
}

export const DEFAULT_DESTINATION = 'default';

export function destinationKeys(connectorId: string, destination: string): DestinationKeys {
  const prefix = queuePrefix(connectorId);
  const scope = destination === DEFAULT_DESTINATION ? prefix : `${prefix}:destination:${destination}`;
  return {
    queueName: destination === DEFAULT_DESTINATION ? QUEUE_NAME : `${QUEUE_NAME}-${destination}`,
    endpoint: `${scope}:endpoint`,
    operatorPause: `${scope}:operator-pause`,
    rateLimit: `${scope}:rate-limit`,
    ordering: `${scope}:ordering`,
    orderScope: scope,
  };
}

/** What the dispatchers are doing with the endpoint (the breaker's state, the gauge's label, `cli status`). */
export type EndpointState = 'delivering' | 'paused' | 'probing';

export const FORWARDED_EVENTS = ['create', 'update', 'delete', 'merge'] as const;
const ForwardedEventSchema = z.enum(FORWARDED_EVENTS);
export type ForwardedEvent = z.infer<typeof ForwardedEventSchema>;

export const EventJobSchema = z.object({
  /** SSE event name; OpenCTI consumers dispatch on it, not on the envelope's `type`. */
  event: ForwardedEventSchema,
  /** SSE id (`<ms>-<seq>`); dependency frames share the id of the event that caused them. */
  streamId: z.string(),
  /** The SSE `data` exactly as received; POSTed byte for byte. */
  body: z.string(),
  /** Epoch ms when the ingester read the frame, for end-to-end latency. */
  receivedAt: z.number(),
  /**
   * `data.id` of the event's STIX object, set only when the ingester ran with
   * WEBHOOK_ORDERING=entity: the event then waits in that object's line
   * (shared/queue/entity-order.ts). Set per event, so dispatchers need no setting and
   * a change of mode never strands an event.
   */
  entity: z.string().optional(),
});
export type EventJob = z.infer<typeof EventJobSchema>;

/** One event of a pack: the event with its own id, which is its job id once it leaves the pack and its webhook-id. */
const PackedEventSchema = EventJobSchema.extend({ id: z.string() });
export type PackedEvent = z.infer<typeof PackedEventSchema>;

/** Job name of a pack: consecutive stream events queued as one job (INGESTER_EVENTS_PER_JOB). */
export const PACK_JOB_NAME = 'pack';

/**
 * A pack: several events in one job, its `progress` the events already
 * settled (PackProgress). The design is explained once, in docs/architecture.md
 * ("Packs: several events per job"); made by ingester/commit/job-packing.ts,
 * delivered by dispatcher/delivery/deliver-pack.ts.
 */
export const PackJobSchema = z.object({ events: z.array(PackedEventSchema).min(1) });
export type PackJob = z.infer<typeof PackJobSchema>;

const EventIndexSchema = z.number().int().nonnegative();
/**
 * The events of a pack already settled (delivered, filtered out, or gone to
 * jobs of their own), by index: a number when they are the first n (the only
 * form dispatchers up to 1.0.0-rc.1 wrote and read), else the first `settled` and
 * the later indexes in `also` (a pack's events run side by side and settle in
 * any order).
 */
const PackProgressSchema = z.union([EventIndexSchema, z.object({ settled: EventIndexSchema, also: z.array(EventIndexSchema) })]);
export type PackProgress = z.infer<typeof PackProgressSchema>;

/** Which of a pack's `count` events its progress says are settled; anything unreadable settles none (they are sent again: at least once). */
export function settledEvents(progress: unknown, count: number): boolean[] {
  const settled = new Array<boolean>(count).fill(false);
  // A fresh pack's progress is BullMQ's 0: no parse on the common path.
  if (progress === 0 || progress === undefined) return settled;
  const parsed = PackProgressSchema.safeParse(progress);
  if (!parsed.success) return settled;
  const { settled: first, also } = typeof parsed.data === 'number' ? { settled: parsed.data, also: [] } : parsed.data;
  for (let index = 0; index < Math.min(first, count); index += 1) settled[index] = true;
  for (const index of also) if (index < count) settled[index] = true;
  return settled;
}

/** The progress that says `settled` (by index): the plain count when they are the first n, which older dispatchers read too. */
export function packProgress(settled: readonly boolean[]): PackProgress {
  let first = 0;
  while (first < settled.length && settled[first]) first += 1;
  const also: number[] = [];
  for (let index = first + 1; index < settled.length; index += 1) if (settled[index]) also.push(index);
  return also.length === 0 ? first : { settled: first, also };
}

/** What a queue job holds: one event, or a pack. */
export type QueuedJobData = EventJob | PackJob;

/** The same events always make the same id, so a commit retried after an error adds nothing twice. */
export function packJobId(events: readonly { id: string }[]): string {
  return `${events[0]!.id}..${events.at(-1)!.id}`;
}

/**
 * Jobs never run out of BullMQ attempts on their own: the dispatcher's backoff
 * strategy (type `webhook`) decides when an event has had enough, so the retry
 * policy lives in one process and can change without re-enqueueing.
 * BullMQ stores one stack trace per failed attempt in the job, in Redis: a
 * dead letter after 15 attempts would carry 15 of them. Only the last one is
 * kept (the failed reason already says what the endpoint answered).
 */
export const EVENT_JOB_OPTIONS = {
  attempts: Number.MAX_SAFE_INTEGER,
  backoff: { type: 'webhook' },
  stackTraceLimit: 1,
} as const;

/**
 * An event an operator sends again (board or CLI) starts over with its full
 * retry budget: its attempts so far were spent on an outage that is, by the
 * operator's judgement, over. The job id, hence the webhook-id, stays.
 */
export const FULL_RETRY_BUDGET: RetryOptions = { resetAttemptsMade: true, resetAttemptsStarted: true };
