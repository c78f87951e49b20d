/**
 * Runs the built product (`dist/ingester/main.js`, `dist/dispatcher/main.js`, the board-only
 * `dist/dispatcher/board/main.js`) as real child processes, so fault tests can SIGKILL and restart them.
 *
 * Isolation: the child gets only `PATH` plus the env the test passes (never the test's own
 * environment, which may hold a developer's OPENCTI_* or REDIS_URL), and by default a fresh
 * empty cwd, so no stray ./config.yml is read.
 *
 * Observation: stdout is parsed line by line as JSON (pino); non-JSON lines go to
 * `rawStdout`. `exit` resolves only after both pipes have drained, so `logs` is complete
 * when it does.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { scaled, withTimeout } from './wait.js';
import { NODE_FLAGS } from '../../shared/process/node-flags.js';

export type ProcessKind = 'ingester' | 'dispatcher' | 'board';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export type LogLine = Record<string, unknown>;

export interface ManagedProcess {
  readonly kind: ProcessKind;
  readonly pid: number;
  /** Parsed JSON lines from stdout, in order. */
  readonly logs: LogLine[];
  /** Non-JSON stdout lines, newline-terminated. */
  readonly rawStdout: string;
  /** All of stdout as received. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves (never rejects) once the process exited and its output is fully parsed. */
  readonly exit: Promise<ExitInfo>;
  /**
   * Resolves with the first log line at index ≥ `since` (default 0, so lines already received
   * count) for which `match` is true. Rejects on timeout (scaled) or if the process exits first.
   */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs: number, what: string, since?: number): Promise<LogLine>;
  /** Sends `signal` (default SIGKILL) and waits for exit; SIGKILL follows after 10 s. */
  kill(signal?: NodeJS.Signals): Promise<ExitInfo>;
}

export interface StartProcessOptions {
  /** @defaultValue a fresh empty temp dir, removed when the process exits */
  cwd?: string;
  /** Wait for the JSON log line `msg === '<kind>.started'`. @defaultValue true */
  waitForStart?: boolean;
  /** Unscaled start timeout in ms. @defaultValue 15000 */
  timeoutMs?: number;
  /** Script to run instead of the entry point of `kind`; for the helpers' own self-test. */
  script?: string;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  logs: LogLine[];
}

// Compiled, this file is <repo>/dist/test/helpers/processes.js.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const KILL_GRACE_MS = 10_000;
const TAIL_LINES = 15;

const ENTRY_POINTS: Record<ProcessKind, string> = {
  ingester: 'ingester/main.js',
  dispatcher: 'dispatcher/main.js',
  board: 'dispatcher/board/main.js',
};

/** Absolute path of the built entry point for `kind`. */
export function productScript(kind: ProcessKind): string {
  return join(REPO_ROOT, 'dist', ENTRY_POINTS[kind]);
}

const live = new Set<Child>();
process.on('exit', () => {
  for (const child of live) child.killSync();
});

class Child implements ManagedProcess {
  readonly logs: LogLine[] = [];
  readonly exit: Promise<ExitInfo>;
  private exitInfo: ExitInfo | undefined;
  private out = '';
  private raw = '';
  private err = '';
  private readonly events = new EventEmitter();

  constructor(
    readonly kind: ProcessKind,
    private readonly proc: ChildProcessByStdio<null, Readable, Readable>,
    readonly pid: number,
    private readonly tempCwd: string | undefined,
  ) {
    this.events.setMaxListeners(0);
    const lines = splitLines((line) => this.onStdoutLine(line));
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      this.out += chunk;
      lines.push(chunk);
    });
    proc.stdout.on('end', () => lines.end());
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (chunk: string) => {
      this.err += chunk;
    });
    this.exit = new Promise<ExitInfo>((resolve) => {
      // 'close' comes after 'exit' and after both pipes ended, so every line is parsed by now.
      proc.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
        const info: ExitInfo = { code, signal };
        live.delete(this);
        const removed = this.tempCwd === undefined ? Promise.resolve() : rm(this.tempCwd, { recursive: true, force: true });
        void removed
          .catch(() => undefined)
          .then(() => {
            this.exitInfo = info;
            this.events.emit('exit');
            resolve(info);
          });
      });
    });
  }

  get stdout(): string {
    return this.out;
  }

  get rawStdout(): string {
    return this.raw;
  }

  get stderr(): string {
    return this.err;
  }

  waitForLog(match: (line: LogLine) => boolean, timeoutMs: number, what: string, since = 0): Promise<LogLine> {
    const ms = scaled(timeoutMs);
    return new Promise<LogLine>((resolve, reject) => {
      let next = since;
      let timer: NodeJS.Timeout | undefined;
      const cleanup = (): void => {
        clearTimeout(timer);
        this.events.off('log', scan);
        this.events.off('exit', onExit);
      };
      /** True once the wait is settled (matched, or `match` threw). */
      const scan = (): boolean => {
        try {
          for (; next < this.logs.length; next++) {
            const line = this.logs[next];
            if (line !== undefined && match(line)) {
              cleanup();
              resolve(line);
              return true;
            }
          }
        } catch (err) {
          cleanup();
          reject(err instanceof Error ? err : new Error(String(err)));
          return true;
        }
        return false;
      };
      const onExit = (): void => {
        if (scan()) return;
        cleanup();
        reject(new Error(`${this.describe()} exited (${formatExit(this.exitInfo)}) before ${what}\n${this.tail()}`));
      };
      timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${ms} ms waiting for ${what} from ${this.describe()}\n${this.tail()}`));
      }, ms);
      this.events.on('log', scan);
      this.events.on('exit', onExit);
      if (this.exitInfo !== undefined) onExit();
      else scan();
    });
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<ExitInfo> {
    if (this.exitInfo !== undefined) return this.exitInfo;
    this.proc.kill(signal);
    try {
      return await withTimeout(this.exit, KILL_GRACE_MS, `${this.describe()} to exit after ${signal}`);
    } catch (err) {
      if (signal === 'SIGKILL') throw err;
      this.proc.kill('SIGKILL');
      return withTimeout(this.exit, KILL_GRACE_MS, `${this.describe()} to exit after SIGKILL`);
    }
  }

  /** Last stderr and stdout lines, for failure messages. */
  tail(): string {
    const last = (text: string): string => text.trimEnd().split('\n').slice(-TAIL_LINES).join('\n');
    return `--- stderr (last ${TAIL_LINES} lines) ---\n${last(this.err) || '(empty)'}\n` +
      `--- stdout (last ${TAIL_LINES} lines) ---\n${last(this.out) || '(empty)'}`;
  }

  killSync(): void {
    if (this.exitInfo === undefined) this.proc.kill('SIGKILL');
    if (this.tempCwd !== undefined) {
      try {
        rmSync(this.tempCwd, { recursive: true, force: true });
      } catch {
        // Best effort: the test process is exiting.
      }
    }
  }

  private describe(): string {
    return `${this.kind} (pid ${this.pid})`;
  }

  private onStdoutLine(line: string): void {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      this.logs.push(parsed as LogLine);
      this.events.emit('log');
    } else {
      this.raw += `${line}\n`;
    }
  }
}

function splitLines(onLine: (line: string) => void): { push(chunk: string): void; end(): void } {
  let buffered = '';
  return {
    push(chunk) {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        onLine(buffered.slice(0, newline).replace(/\r$/, ''));
        buffered = buffered.slice(newline + 1);
      }
    },
    end() {
      if (buffered !== '') onLine(buffered);
      buffered = '';
    },
  };
}

function formatExit(info: ExitInfo | undefined): string {
  if (info === undefined) return 'still running';
  return info.signal !== null ? `signal ${info.signal}` : `exit code ${info.code}`;
}

async function spawnChild(kind: ProcessKind, env: Record<string, string>, opts: StartProcessOptions): Promise<Child> {
  const tempCwd = opts.cwd === undefined ? await mkdtemp(join(tmpdir(), `opencti-webhook-${kind}-`)) : undefined;
  const cwd = opts.cwd ?? (tempCwd);
  const script = opts.script ?? productScript(kind);
  const childEnv: Record<string, string> = { ...env };
  if (process.env.PATH !== undefined && env.PATH === undefined) childEnv.PATH = process.env.PATH;
  const proc = spawn(process.execPath, [...NODE_FLAGS, script], { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  if (proc.pid === undefined) {
    const err = await new Promise<Error>((resolve) => proc.once('error', resolve));
    if (tempCwd !== undefined) await rm(tempCwd, { recursive: true, force: true });
    throw new Error(`could not spawn ${kind} (${script} in ${cwd}): ${err.message}`);
  }
  const child = new Child(kind, proc, proc.pid, tempCwd);
  live.add(child);
  return child;
}

/**
 * Spawns the entry point of `kind` with exactly `{ PATH, ...env }` and (by default) waits for its
 * `<kind>.started` log line. If it exits or times out first, it is killed and the promise
 * rejects with its exit status and output tail.
 */
export async function startProcess(
  kind: ProcessKind,
  env: Record<string, string>,
  opts: StartProcessOptions = {},
): Promise<ManagedProcess> {
  const child = await spawnChild(kind, env, opts);
  if (opts.waitForStart !== false) {
    const startMsg = `${kind}.started`;
    try {
      await child.waitForLog((line) => line.msg === startMsg, opts.timeoutMs ?? 15_000, `log line msg=${startMsg}`);
    } catch (err) {
      await child.kill().catch(() => undefined);
      throw err;
    }
  }
  return child;
}

/** Runs `kind` until it exits on its own (config-error tests); kills it and rejects after `timeoutMs` (scaled). */
export async function runToExit(
  kind: ProcessKind,
  env: Record<string, string>,
  timeoutMs: number,
  opts: Omit<StartProcessOptions, 'waitForStart' | 'timeoutMs'> = {},
): Promise<RunResult> {
  const child = await spawnChild(kind, env, opts);
  let info: ExitInfo;
  try {
    info = await withTimeout(child.exit, timeoutMs, `${kind} (pid ${child.pid}) to exit by itself`);
  } catch (err) {
    await child.kill().catch(() => undefined);
    throw new Error(`${(err as Error).message}\n${child.tail()}`, { cause: err });
  }
  return { code: info.code, signal: info.signal, stdout: child.stdout, stderr: child.stderr, logs: child.logs };
}

/** SIGKILLs every child still running and waits for them; call it in `after()`. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((child) => child.kill('SIGKILL').catch(() => undefined)));
}
