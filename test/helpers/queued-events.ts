import type { Job, JobType, Queue } from 'bullmq';
import { PACK_JOB_NAME, PackJobSchema, type EventJob } from '../../shared/queue/contract.js';

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

/** The events of one job: itself, or a pack's events. */
export function eventsOf(job: Job): QueuedEvent[] {
  if (job.name !== PACK_JOB_NAME) return [{ id: String(job.id), name: job.name, data: job.data as EventJob, job }];
  return PackJobSchema.parse(job.data).events.map(({ id, ...data }) => ({ id, name: data.event, data, job }));
}
