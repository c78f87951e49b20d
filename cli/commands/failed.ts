import { isoTime, table } from '../format.js';
import type { Command } from './command.js';

/** Dead-lettered events, newest first, without their bodies (see the board for payloads). */
export const failed: Command = async ({ queue, args }) => {
  const [total, jobs] = await Promise.all([queue.getFailedCount(), queue.getJobs(['failed'], 0, args.limit - 1)]);
  const events = jobs.map((job) => ({
    id: String(job.id),
    event: job.name,
    streamId: streamIdOf(job.data),
    attempts: job.attemptsMade,
    failedReason: job.failedReason ?? null,
    failedAt: isoTime(job.finishedOn),
  }));
  const json = { total, shown: events.length, events };
  if (total === 0) return { json, text: 'no failed events', ok: true };
  const rows = events.map((e) => [e.id, e.event, String(e.attempts), e.failedAt ?? '-', e.failedReason ?? '-']);
  const footer = `${events.length} of ${total} failed events shown (newest first). Send them again: npm run cli -- replay <id>... | --all`;
  return { json, text: `${table(['ID', 'EVENT', 'ATTEMPTS', 'FAILED AT', 'REASON'], rows)}\n\n${footer}`, ok: true };
};

/** A failed job's data may be anything (it failed); only a string stream id is shown. */
function streamIdOf(data: unknown): string | null {
  const streamId: unknown = typeof data === 'object' && data !== null ? (data as { streamId?: unknown }).streamId : undefined;
  return typeof streamId === 'string' ? streamId : null;
}
