import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

/** One command Redis executed: who sent it (`ip:port` of the connection, or `lua` for a script's own commands) and its arguments. */
export interface MonitoredCommand {
  source: string;
  args: string[];
}

const LINE = /^\d+\.\d+ \[\d+ ([^\]]+)\] (.*)$/;
const ARGUMENT = /"((?:[^"\\]|\\.)*)"/g;

/**
 * Redis MONITOR through `redis-cli`, until the returned function is called.
 * Not ioredis' monitor(): when the MONITOR reply and the first monitored
 * command arrive in one read, ioredis takes the command for a reply and throws
 * "Command queue state error" (seen in the fault suite).
 */
export async function monitorRedis(port: number, onCommand: (command: MonitoredCommand) => void): Promise<() => void> {
  const child = spawn('redis-cli', ['-p', String(port), 'monitor'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  let started: () => void = () => undefined;
  const monitoring = new Promise<void>((resolve, reject) => {
    started = resolve;
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-cli monitor exited with ${code}`)));
  });
  // One listener from the start: the OK and the first commands may come in one chunk.
  lines.on('line', (line) => {
    if (line === 'OK') return started();
    const match = LINE.exec(line);
    if (match) onCommand({ source: match[1]!, args: [...match[2]!.matchAll(ARGUMENT)].map(([, arg]) => arg!.replace(/\\(.)/g, '$1')) });
  });
  await monitoring;
  return () => child.kill();
}
