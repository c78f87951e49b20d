import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import type { Job, Queue } from 'bullmq';
import { FULL_RETRY_BUDGET } from '../shared/queue.js';
import { eventDataView, eventTitle } from './board-view.js';

/**
 * The event queue as bull-board shows it: readable titles and payloads, and
 * retries that give the event its full WEBHOOK_RETRY_ATTEMPTS again — the same
 * as `npm run cli -- replay`. bull-board retries through `job.retry(state)`
 * on the jobs this adapter hands out (one job or "retry all"), so wrapping
 * them here covers every retry button.
 */
export class EventQueueAdapter extends BullMQAdapter {
  constructor(queue: Queue, options: { readOnly: boolean; description: string }) {
    super(queue, { readOnlyMode: options.readOnly, allowRetries: !options.readOnly, description: options.description });
    this.setFormatter('name', (job: { name?: unknown; data?: unknown }) => eventTitle(job));
    this.setFormatter('data', (data: unknown) => eventDataView(data));
  }

  override async getJob(id: string): Promise<Job | undefined> {
    const job = await super.getJob(id);
    return job && withFullRetryBudget(job);
  }

  override async getJobs(...args: Parameters<BullMQAdapter['getJobs']>): Promise<Job[]> {
    return (await super.getJobs(...args)).map(withFullRetryBudget);
  }
}

function withFullRetryBudget(job: Job): Job {
  const retry = job.retry.bind(job);
  job.retry = (state) => retry(state, FULL_RETRY_BUDGET);
  return job;
}
