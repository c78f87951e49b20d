import { single, type Command } from './command.js';

/** Completed jobs removed per Redis call: one big clean would block Redis for everyone. */
const BATCH = 1_000;

/** Deletes the history of one destination's delivered events; nothing waiting, retrying or failed is touched. */
export const purge: Command = async ({ destinations }) => {
  const { name, queue } = single(destinations);
  let removed = 0;
  for (;;) {
    const ids = await queue.clean(0, BATCH, 'completed');
    removed += ids.length;
    if (ids.length < BATCH) break;
  }
  return { json: { destination: name, removed }, text: `${removed} completed events removed from the history of destination ${name}`, ok: true };
};
