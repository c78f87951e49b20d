/**
 * A throwaway `redis-server` on loopback: the demo's when no Redis answers at REDIS_URL, and
 * the base of every test's (test/helpers/redis-server.ts adds kill, restart, TLS, ACL…).
 *
 * It lives with the demo, not in test/, because the demo is what a newcomer runs first and
 * must not depend on the test suite; tests and benchmarks may import it, product code may not
 * (.dependency-cruiser.cjs).
 *
 * - The binary is looked up on the PATH first, so a missing one is one clear sentence
 *   ({@link RedisNotInstalledError}) rather than a spawn ENOENT.
 * - Ready means *our* process answered PING (`INFO server` → `process_id`): the port opens
 *   before Redis serves (it answers `-LOADING` while replaying an AOF), and a port that
 *   {@link freePort} found free can be taken by another program before Redis binds it
 *   ({@link RedisBindError}: try another port, see {@link onFreePort}).
 * - Redis's own output goes to a log file whose tail every start failure quotes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, openSync, rmSync, statSync } from 'node:fs';
import { appendFile, mkdtemp, open, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { exitOf, onProcessExit, stopChild, type ExitInfo } from './child.js';
import { freePort } from './free-port.js';

/** How to get redis-server (and redis-cli, same package), in one line: the demo's and the test suite's prerequisite messages. */
export const REDIS_INSTALL_HINT = 'Debian/Ubuntu: sudo apt-get install redis-server · macOS: brew install redis';

/** `redis-server` is not on the PATH. */
class RedisNotInstalledError extends Error {
  override name = 'RedisNotInstalledError';
  constructor() {
    super(`no redis-server on the PATH. Install one: ${REDIS_INSTALL_HINT}`);
  }
}

/** redis-server could not bind its port (someone else holds it); another port may work. */
export class RedisBindError extends Error {
  override name = 'RedisBindError';
}

export interface RedisProbeOptions {
  /** Speak TLS to a server that serves only TLS. */
  tls?: ConnectionOptions;
  /** AUTH before PING (the default user disabled or password-protected). */
  auth?: { username: string; password: string };
}

export interface LaunchOptions {
  port: number;
  /** Every argument after the binary; see {@link redisArgs}. */
  args: string[];
  /** Redis's stdout and stderr are appended here. */
  logPath: string;
  /** Time allowed for our process to answer PING. @defaultValue 10000 */
  readyTimeoutMs?: number;
  probe?: RedisProbeOptions;
  /** In a process group of its own: a Ctrl-C in the terminal does not reach it. @defaultValue false */
  detached?: boolean;
}

export interface LaunchedRedis {
  readonly child: ChildProcess;
  /** Resolves (never rejects) when the process has exited. */
  readonly exited: Promise<ExitInfo>;
}

const BIND_FAILURE = /Address already in use|Could not create server TCP listening socket|Failed listening on port/i;
const MAX_BIND_ATTEMPTS = 5;

/** Absolute path of an executable `name` in the directories of `path`, or undefined. */
export function findOnPath(name: string, path = process.env.PATH ?? ''): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** The settings every throwaway Redis shares: loopback only, its own dir, no RDB snapshots, AOF when asked. */
export function redisArgs(dir: string, appendonly: boolean): string[] {
  return [
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', appendonly ? 'yes' : 'no',
    '--appendfsync', 'everysec',
    '--maxmemory-policy', 'noeviction',
    '--daemonize', 'no',
  ];
}

/**
 * Spawns redis-server with `args` and resolves once our process answers PING. On failure the
 * process is gone: the error is {@link RedisNotInstalledError}, {@link RedisBindError}, or one
 * that quotes the log's tail.
 */
export async function launchRedis({ port, args, logPath, readyTimeoutMs = 10_000, probe = {}, detached = false }: LaunchOptions): Promise<LaunchedRedis> {
  const binary = findOnPath('redis-server');
  if (binary === undefined) throw new RedisNotInstalledError();
  await appendFile(logPath, `\n--- spawning redis-server on port ${port} at ${new Date().toISOString()} ---\n`);
  const logOffset = statSync(logPath).size;
  const fd = openSync(logPath, 'a');
  let child: ChildProcess;
  try {
    // spawn() forks synchronously: the child holds its own copy of fd once this returns.
    child = spawn(binary, args, { stdio: ['ignore', fd, fd], detached });
  } finally {
    closeSync(fd);
  }
  let exitInfo: ExitInfo | undefined;
  const exited = exitOf(child);
  void exited.then((info) => (exitInfo = info));
  const launched = { child, exited };

  const deadline = Date.now() + readyTimeoutMs;
  let lastError: unknown;
  let failure: Error | undefined;
  for (;;) {
    if (exitInfo !== undefined) {
      failure = new Error(`redis-server exited before answering PING (code ${exitInfo.code}, signal ${exitInfo.signal})`);
      break;
    }
    try {
      const pid = await probeRedis(port, probe);
      if (pid === child.pid) return launched;
      failure = new RedisBindError(`port ${port} is served by another redis (pid ${pid}, ours ${child.pid})`);
      break;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      failure = new Error(`redis-server on port ${port} did not answer PING within ${readyTimeoutMs} ms (last: ${(lastError as Error).message})`);
      break;
    }
    await sleep(50);
  }
  await stopChild(child, exited, 'SIGKILL').catch(() => undefined);
  const tail = await redisLogTail(logPath, 30, logOffset);
  const message = `${failure.message}\nredis log ${logPath}, tail:\n${tail}`;
  if (failure instanceof RedisBindError || BIND_FAILURE.test(tail)) throw new RedisBindError(message, { cause: failure });
  throw new Error(message, { cause: failure });
}

/**
 * Calls `launch` with a free port until Redis binds one: another program can take the port
 * between the check and the bind.
 */
export async function onFreePort<T>(launch: (port: number) => Promise<T>): Promise<T> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= MAX_BIND_ATTEMPTS; attempt++) {
    try {
      return await launch(await freePort());
    } catch (error) {
      lastError = error;
      if (!(error instanceof RedisBindError)) break;
    }
  }
  throw lastError;
}

/** The last `lines` lines of a Redis log written after byte `fromByte` (at most its last 64 KiB). */
export async function redisLogTail(logPath: string, lines = 30, fromByte = 0): Promise<string> {
  let handle;
  try {
    handle = await open(logPath, 'r');
  } catch {
    return '(no redis log)';
  }
  try {
    const { size } = await handle.stat();
    const start = Math.max(fromByte, size - 64 * 1024);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    return buffer.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } finally {
    await handle.close();
  }
}

/**
 * One readiness probe on a connection of its own: AUTH when given, PING must answer +PONG,
 * then `INFO server` tells which process answered. Error replies (`-LOADING`) and connection
 * errors reject, so the caller polls again.
 */
function probeRedis(port: number, { tls, auth }: RedisProbeOptions, timeoutMs = 1_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = tls
      ? tlsConnect({ host: '127.0.0.1', port, ...tls, checkServerIdentity: () => undefined })
      : createConnection({ host: '127.0.0.1', port });
    const authCommand = auth ? `AUTH ${auth.username} ${auth.password}\r\n` : '';
    const OK = '+OK\r\n';
    const PONG = '+PONG\r\n';
    let reply = '';
    let settled = false;
    const settle = (finish: () => void): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      finish();
    };
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => settle(() => reject(new Error(`no reply within ${timeoutMs} ms`))));
    socket.on(tls ? 'secureConnect' : 'connect', () => socket.write(`${authCommand}PING\r\nINFO server\r\n`));
    socket.on('data', (chunk: string) => {
      reply += chunk;
      if (authCommand && reply.startsWith(OK)) reply = reply.slice(OK.length);
      if (reply.startsWith('-')) {
        const end = reply.indexOf('\r\n');
        if (end >= 0) settle(() => reject(new Error(`redis replied ${reply.slice(0, end)}`)));
        return;
      }
      if (!reply.startsWith(PONG)) {
        if (!PONG.startsWith(reply)) settle(() => reject(new Error(`unexpected reply ${JSON.stringify(reply.slice(0, 60))}`)));
        return;
      }
      const pid = /process_id:(\d+)\r\n/.exec(reply)?.[1];
      if (pid !== undefined) settle(() => resolve(Number(pid)));
    });
    socket.on('error', (error: Error) => settle(() => reject(error)));
    socket.on('close', () => settle(() => reject(new Error('connection closed before a reply'))));
  });
}

/** The demo's Redis: AOF on, its own process group (see child.ts), a temp dir removed by {@link stop}. */
export class ThrowawayRedis {
  private readonly forget: () => void;

  private constructor(
    readonly url: string,
    private readonly dir: string,
    private readonly launched: LaunchedRedis,
  ) {
    this.forget = onProcessExit(() => {
      launched.child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
  }

  static async start(): Promise<ThrowawayRedis> {
    const dir = await mkdtemp(join(tmpdir(), 'opencti-webhook-demo-redis-'));
    try {
      return await onFreePort(async (port) => {
        const args = ['--port', String(port), ...redisArgs(dir, true)];
        const launched = await launchRedis({ port, args, logPath: join(dir, 'redis.log'), detached: true });
        return new ThrowawayRedis(`redis://127.0.0.1:${port}`, dir, launched);
      });
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** SIGTERM (Redis flushes its AOF and exits), then removes the data dir. */
  async stop(): Promise<void> {
    try {
      await stopChild(this.launched.child, this.launched.exited, 'SIGTERM');
    } finally {
      await rm(this.dir, { recursive: true, force: true });
      this.forget();
    }
  }
}
