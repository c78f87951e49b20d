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
  /** User + system CPU time since the process started, with its reaped children's, seconds. */
  cpuSeconds: number;
  /** … of which its reaped children's (for Redis: the forks that rewrite the AOF). */
  childCpuSeconds: number;
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
    throw new Error(`bench: cannot read /proc/${pid} (process gone, or not Linux): ${(error as Error).message}`, { cause: error });
  }
  const hwm = /^VmHWM:\s+(\d+)\s+kB/m.exec(status);
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime are fields 14–17 of /proc/<pid>/stat, i.e. indexes 11–14 here.
  // Reaped children count too: Redis does its AOF rewrites in forked children.
  const childTicks = Number(fields[13]) + Number(fields[14]);
  const ticks = Number(fields[11]) + Number(fields[12]) + childTicks;
  return {
    peakRssMiB: hwm?.[1] === undefined ? Number.NaN : Number(hwm[1]) / 1024,
    cpuSeconds: ticks / ticksPerSecond(),
    childCpuSeconds: childTicks / ticksPerSecond(),
  };
}

export interface AofInfo {
  /** AOF rewrites so far (each one forks Redis). */
  rewrites: number;
  /** Size of the AOF now (base + increments), bytes. */
  currentBytes: number;
}

export async function redisAofInfo(redis: Redis): Promise<AofInfo> {
  const info = await redis.info('persistence');
  const field = (name: string): number => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return { rewrites: field('aof_rewrites'), currentBytes: field('aof_current_size') };
}

export async function redisUsedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory');
  const match = /^used_memory:(\d+)/m.exec(info);
  if (match?.[1] === undefined) throw new Error('bench: INFO memory has no used_memory');
  return Number(match[1]);
}

/** Busy CPU time of the whole machine so far (all cores), seconds, from /proc/stat. */
function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [, user, nice, system, , iowait, irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  void iowait;
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / ticksPerSecond();
}

export interface CpuShare {
  seconds: number;
  /** Average number of cores busy on the machine during the window. */
  machineCores: number;
  /** … of which this bench (its own process, the product processes, redis-server). */
  benchCores: number;
  /** … of which the bench process itself (emulator, receiver thread, ceiling client). */
  selfCores: number;
  /** CPU seconds of the bench process itself during the window. */
  selfSeconds: number;
  /** … of which everything else on the machine: noise. */
  otherCores: number;
}

/**
 * Who used the CPU during a scenario: the machine's busy time minus the bench's own processes.
 * Other processes' load makes every number of the bench worse, so it is reported next to them.
 */
export class CpuWindow {
  readonly #started = performance.now();
  readonly #busy = machineBusySeconds();
  readonly #self = process.cpuUsage();

  /** `childCpuSeconds`: CPU of the processes started during the window (whole lifetime). */
  end(childCpuSeconds: number): CpuShare {
    const seconds = (performance.now() - this.#started) / 1000;
    const machine = machineBusySeconds() - this.#busy;
    const self = process.cpuUsage(this.#self);
    const selfSeconds = (self.user + self.system) / 1e6;
    const bench = selfSeconds + childCpuSeconds;
    const r = (n: number): number => Math.round((n / seconds) * 100) / 100;
    return {
      seconds: Math.round(seconds * 10) / 10,
      machineCores: r(machine),
      benchCores: r(bench),
      selfCores: r(selfSeconds),
      selfSeconds: Math.round(selfSeconds * 100) / 100,
      otherCores: r(Math.max(0, machine - bench)),
    };
  }
}
