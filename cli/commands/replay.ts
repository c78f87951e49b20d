import { FULL_RETRY_BUDGET } from '../../shared/queue/contract.js';
import { single, type Command } from './command.js';

type Outcome = { id: string; result: 'replayed' } | { id: string; result: 'not_found' } | { id: string; result: 'not_failed'; state: string } | { id: string; result: 'error'; message: string };

/** Jobs retried concurrently: enough to be quick, few enough not to flood Redis. */
const BATCH = 50;

/**
 * Moves failed events of one destination back to its waiting list. The job
 * id, hence the webhook-id the receiver deduplicates on, is kept; the attempt
 * count starts over (FULL_RETRY_BUDGET). `--all` takes the ids present when it starts, so
 * events that fail again while it runs are not picked up twice.
 */
export const replay: Command = async ({ destinations, args }) => {
  const { name, queue } = single(destinations);
  const ids = args.all ? await queue.getRanges(['failed'], 0, -1) : [...new Set(args.ids)];
  const outcomes: Outcome[] = [];
  for (let i = 0; i < ids.length; i += BATCH) {
    outcomes.push(...(await Promise.all(ids.slice(i, i + BATCH).map(replayOne))));
  }
  const replayed = outcomes.filter((o) => o.result === 'replayed').length;
  const problems = outcomes.filter((o) => o.result !== 'replayed');
  const json = { destination: name, requested: ids.length, replayed, results: outcomes };
  const lines = [ids.length === 0 ? `no failed events to replay in destination ${name}` : `${replayed} of ${ids.length} events sent back to the queue of destination ${name}`];
  for (const problem of problems) lines.push(`  ${problem.id}: ${describe(problem)}`);
  return { json, text: lines.join('\n'), ok: problems.length === 0 };

  async function replayOne(id: string): Promise<Outcome> {
    const job = await queue.getJob(id);
    if (!job) return { id, result: 'not_found' };
    const state = await job.getState();
    if (state !== 'failed') return { id, result: 'not_failed', state };
    try {
      await job.retry('failed', FULL_RETRY_BUDGET);
      return { id, result: 'replayed' };
    } catch (error) {
      // Another operator or the board retried it in between.
      return { id, result: 'error', message: (error as Error).message };
    }
  }
};

function describe(outcome: Outcome): string {
  switch (outcome.result) {
    case 'not_found':
      return 'no such event in this destination (ids are webhook-ids, see `failed`)';
    case 'not_failed':
      return `not failed (it is ${outcome.state})`;
    case 'error':
      return `not replayed: ${outcome.message}`;
    default:
      return 'replayed';
  }
}
