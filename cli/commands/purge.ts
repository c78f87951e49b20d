import type { Command } from './command.js';

/** Completed jobs removed per Redis call: one big clean would block Redis for everyone. */
const BATCH = 1_000;

/** Deletes the history of delivered events; nothing waiting, retrying or failed is touched. */
export const purge: Command = async ({ queue }) => {
  let removed = 0;
  for (;;) {
    const ids = await queue.clean(0, BATCH, 'completed');
    removed += ids.length;
    if (ids.length < BATCH) break;
  }
  return { json: { removed }, text: `${removed} completed events removed from the history`, ok: true };
};
