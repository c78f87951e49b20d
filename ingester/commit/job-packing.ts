import { PACK_JOB_NAME, packJobId, type EventJob, type PackJob } from '../../shared/queue/contract.js';

/** An event read from the stream, with the id that makes its job (and webhook-id). */
export interface PendingEvent {
  eventId: string;
  job: EventJob;
}

/** A job to queue: one event (the job named after its SSE event) or a pack of several (named PACK_JOB_NAME). */
export interface QueuedJob {
  id: string;
  name: string;
  data: EventJob | PackJob;
  /** Events it holds. */
  events: number;
}

/**
 * Groups the events of one commit for one destination into jobs, in stream
 * order: runs of up to `eventsPerJob` consecutive events become a pack, in a
 * commit of at least `eventsPerJob` events only (`commitSize`: all the events
 * the commit read, so a destination that takes a few of a backlog's events
 * still gets them packed). An event lined up for per-entity ordering (it
 * carries `entity`) is always a job of its own; so is a run of one. Why, and
 * what a pack changes for delivery: docs/architecture.md ("Packs: several
 * events per job").
 */
export function packEvents(events: readonly PendingEvent[], eventsPerJob: number, commitSize = events.length): QueuedJob[] {
  if (commitSize < eventsPerJob) return events.map(single);
  const jobs: QueuedJob[] = [];
  let run: PendingEvent[] = [];
  const endRun = (): void => {
    if (run.length === 1) jobs.push(single(run[0]!));
    else if (run.length > 1) {
      const events = run.map(({ eventId, job }) => ({ id: eventId, ...job }));
      jobs.push({ id: packJobId(events), name: PACK_JOB_NAME, data: { events }, events: events.length });
    }
    run = [];
  };
  for (const event of events) {
    if (event.job.entity !== undefined) {
      endRun();
      jobs.push(single(event));
      continue;
    }
    run.push(event);
    if (run.length >= eventsPerJob) endRun();
  }
  endRun();
  return jobs;
}

function single({ eventId, job }: PendingEvent): QueuedJob {
  return { id: eventId, name: job.event, data: job, events: 1 };
}
