import type { Job, JobType, Queue } from 'bullmq';
import { eventId } from '../../ingester/stream/frame.js';
import { EVENT_JOB_OPTIONS, PACK_JOB_NAME, PackJobSchema, settledEvents, type EventJob } from '../../shared/queue/contract.js';
import type { EmittedFrame } from './stream-emulator.js';

/** An event in the queue, queued alone or in a pack (INGESTER_EVENTS_PER_JOB): its own id, name and data, and the job holding it. */
export interface QueuedEvent {
  id: string;
  name: string;
  data: EventJob;
  job: Job;
}

/** The events held by the jobs in `states`, packs expanded in stream order, jobs in the order getJobs returns them. */
export async function queuedEvents(queue: Queue, states: JobType[], start = 0, end = -1): Promise<QueuedEvent[]> {
  return (await queue.getJobs(states, start, end)).flatMap(eventsOf);
}

/**
 * The events the jobs in `states` still have to deliver: a pack's events its
 * progress does not settle, as the dispatcher resumes it (the settled ones were
 * delivered, or left the pack as jobs of their own and are counted there).
 */
export async function pendingEvents(queue: Queue, states: JobType[]): Promise<QueuedEvent[]> {
  return (await queue.getJobs(states)).flatMap((job) => {
    const events = eventsOf(job);
    if (job.name !== PACK_JOB_NAME) return events;
    const settled = settledEvents(job.progress, events.length);
    return events.filter((_, index) => !settled[index]);
  });
}

/** The events of one job: itself, or a pack's events. */
export function eventsOf(job: Job): QueuedEvent[] {
  if (job.name !== PACK_JOB_NAME) return [{ id: String(job.id), name: job.name, data: job.data as EventJob, job }];
  return PackJobSchema.parse(job.data).events.map(({ id, ...data }) => ({ id, name: data.event, data, job }));
}

/**
 * Queues stream frames as the ingester would queue them for one destination,
 * one job per event (no packs): for tests about what acts on the queues (board,
 * CLI), which need events waiting there but not the ingester's way of putting
 * them there. Resolves with the job ids (the events' webhook-ids).
 */
export async function enqueueFrames(queue: Queue, frames: readonly EmittedFrame[]): Promise<string[]> {
  const jobs = frames.map((frame) => {
    const id = eventId(frame.event, frame.id, frame.data);
    const data: EventJob = { event: frame.event as EventJob['event'], streamId: frame.id, body: frame.data, receivedAt: Date.now() };
    return { name: frame.event, data, opts: { ...EVENT_JOB_OPTIONS, jobId: id } };
  });
  await queue.addBulk(jobs);
  return jobs.map(({ opts }) => opts.jobId);
}
