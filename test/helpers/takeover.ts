/**
 * What a killed dispatcher held, for takeover tests and bench/takeover.ts.
 * Read from Redis right after the SIGKILL: the dead process can change
 * nothing any more, and its jobs stay active (locked) until they are taken
 * over, so the snapshot is exact.
 */
import type { Queue } from 'bullmq';
import { PackJobSchema, settledEvents } from '../../shared/queue/contract.js';

export interface HeldEvents {
  /** Webhook-ids of the events the active jobs still have to deliver: a single job's own id, a pack's events its progress does not settle. */
  ids: string[];
  jobs: number;
  packs: number;
}

/**
 * Events held by the queue's active jobs now. Live dispatchers' jobs are
 * included: they finish within a pack's time, far sooner than a takeover, so
 * they never decide how long the dead one's events waited.
 */
export async function heldEvents(queue: Queue): Promise<HeldEvents> {
  const held: HeldEvents = { ids: [], jobs: 0, packs: 0 };
  for (const job of await queue.getActive()) {
    if (job.id === undefined) continue;
    held.jobs += 1;
    const pack = PackJobSchema.safeParse(job.data);
    if (!pack.success) {
      held.ids.push(job.id);
      continue;
    }
    held.packs += 1;
    const settled = settledEvents(job.progress, pack.data.events.length);
    held.ids.push(...pack.data.events.filter((_, index) => !settled[index]).map((event) => event.id));
  }
  return held;
}
