/**
 * What the demo's child processes (redis-server, the ingester, the dispatcher) have in
 * common: how they end, and that they end with the demo even when it crashes. The demo starts
 * them in process groups of their own, so that Ctrl-C reaches only the demo, which then stops
 * them in order (Redis last); the price is that they would outlive a demo that dies.
 */
import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Resolves (never rejects) when `child` has exited, or could not be spawned at all. */
export function exitOf(child: ChildProcess): Promise<ExitInfo> {
  return new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
}

/**
 * Sends `signal` and waits for `exited`; SIGKILL follows when that was not enough within
 * `graceMs`. No-op once the child has exited.
 */
export async function stopChild(child: ChildProcess, exited: Promise<ExitInfo>, signal: NodeJS.Signals, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const signals: NodeJS.Signals[] = signal === 'SIGKILL' ? ['SIGKILL'] : [signal, 'SIGKILL'];
  for (const sent of signals) {
    child.kill(sent);
    if ((await Promise.race([exited, sleep(graceMs, 'timeout' as const, { ref: false })])) !== 'timeout') return;
  }
  throw new Error(`pid ${child.pid} did not exit within ${graceMs} ms of ${signals.join(', then ')}`);
}

const atExit = new Set<() => void>();
process.on('exit', () => {
  for (const task of atExit) task();
});

/** Runs `task` (synchronous, last-resort cleanup) if this process exits before the returned function is called. */
export function onProcessExit(task: () => void): () => void {
  atExit.add(task);
  return () => atExit.delete(task);
}
