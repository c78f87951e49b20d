import type { Job } from 'bullmq';
import { isoTime, table } from '../format.js';
import type { Command, CommandDestination } from './command.js';

/**
 * Dead-lettered events, newest first, without their bodies (see the board for
 * payloads), each labelled with its destination: an event dead-lettered by
 * two destinations appears once for each.
 */
export const failed: Command = async ({ destinations, args }) => {
  const perDestination = await Promise.all(destinations.map((destination) => newestFailed(destination, args.limit)));
  const total = perDestination.reduce((sum, { total }) => sum + total, 0);
  // Each list holds its destination's newest `limit`: merged, they hold the newest `limit` of all.
  const jobs = perDestination
    .flatMap(({ jobs }) => jobs)
    .sort((a, b) => (b.job.finishedOn ?? 0) - (a.job.finishedOn ?? 0))
    .slice(0, args.limit);
  const events = jobs.map(({ destination, job }) => ({
    destination,
    id: String(job.id),
    event: job.name,
    streamId: streamIdOf(job.data),
    attempts: job.attemptsMade,
    failedReason: job.failedReason ?? null,
    failedAt: isoTime(job.finishedOn),
  }));
  const json = { total, shown: events.length, events };
  if (total === 0) return { json, text: `no failed events (${destinations.map(({ name }) => name).join(', ')})`, ok: true };
  const rows = events.map((e) => [e.destination, e.id, e.event, String(e.attempts), e.failedAt ?? '-', e.failedReason ?? '-']);
  const named = new Set(events.map((e) => e.destination));
  const destination = named.size === 1 ? [...named][0]! : '<name>';
  const footer = `${events.length} of ${total} failed events shown (newest first). Send them again: npm run cli -- replay --destination ${destination} <id>... | --all`;
  return { json, text: `${table(['DESTINATION', 'ID', 'EVENT', 'ATTEMPTS', 'FAILED AT', 'REASON'], rows)}\n\n${footer}`, ok: true };
};

async function newestFailed({ name, queue }: CommandDestination, limit: number): Promise<{ total: number; jobs: Array<{ destination: string; job: Job }> }> {
  const [total, jobs] = await Promise.all([queue.getFailedCount(), queue.getJobs(['failed'], 0, limit - 1)]);
  return { total, jobs: jobs.map((job) => ({ destination: name, job })) };
}

/** A failed job's data may be anything (it failed); only a string stream id is shown. */
function streamIdOf(data: unknown): string | null {
  const streamId: unknown = typeof data === 'object' && data !== null ? (data as { streamId?: unknown }).streamId : undefined;
  return typeof streamId === 'string' ? streamId : null;
}
