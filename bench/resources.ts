/**
 * Resource readings of child processes from /proc (Linux only): peak resident set size (VmHWM)
 * and CPU time (utime + stime), and Redis memory from INFO.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';

export interface ProcessUsage {
  /** Peak resident set size since the process started, MiB. */
  peakRssMiB: number;
  /** User + system CPU time since the process started, seconds. */
  cpuSeconds: number;
}

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Reads /proc/<pid>; call it before the process exits (the numbers vanish with it). */
export function processUsage(pid: number): ProcessUsage {
  let status: string;
  let stat: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    throw new Error(`bench: cannot read /proc/${pid} (process gone, or not Linux): ${(error as Error).message}`);
  }
  const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of /proc/<pid>/stat, i.e. indexes 11 and 12 here.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return {
    peakRssMiB: hwm?.[1] === undefined ? Number.NaN : Number(hwm[1]) / 1024,
    cpuSeconds: ticks / ticksPerSecond(),
  };
}

/** CPU seconds used between two readings of the same process. */
export function cpuBetween(before: ProcessUsage, after: ProcessUsage): number {
  return after.cpuSeconds - before.cpuSeconds;
}

export async function redisUsedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  const match = /^used_memory:(\d+)/m.exec(info);
  if (match?.[1] === undefined) throw new Error('bench: INFO memory has no used_memory');
  return Number(match[1]);
}
