import type { ServerResponse } from 'node:http';

/**
 * Calls `resume` once `res` can take writes again after a write returned
 * false, or once `gone()` says the reader left. Node.js 24 does not always
 * emit 'drain' on a ServerResponse whose socket drained: writableNeedDrain
 * stays true with nothing buffered in the response or its socket, and an SSE
 * writer waiting for 'drain' alone stalls until its next heartbeat. So the
 * buffers are polled as well. Used by the demo's simulator and the tests'
 * stream emulator.
 */
export function whenDrained(res: ServerResponse, gone: () => boolean, resume: () => void): void {
  let done = false;
  const finish = (): void => {
    if (done) return;
    done = true;
    clearInterval(poll);
    res.off('drain', finish);
    resume();
  };
  const poll = setInterval(() => {
    const drained = !res.writableNeedDrain || (res.writableLength === 0 && !(res.socket?.writableNeedDrain ?? false));
    if (gone() || drained) finish();
  }, 20);
  poll.unref();
  res.once('drain', finish);
}
