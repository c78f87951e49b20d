/**
 * A dedicated `redis-server` per test file, spawned from PATH (we have no Docker), never the
 * shared instance on 6379.
 *
 * - Readiness means a PING is answered with PONG by *our* process (checked through
 *   `INFO server` → `process_id`), not that the port accepts connections: the port opens
 *   before Redis serves (and answers `-LOADING` while replaying an AOF), and a port picked
 *   with {@link freePort} can be taken by someone else before Redis binds it.
 * - Redis's own stdout/stderr go to `<dir>/redis.log`; every start failure quotes its tail.
 * - `kill()` + `restart()` keep port and data dir, so a test can crash Redis under a running
 *   product and bring the same instance back (with AOF data when `appendonly` is on).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { appendFile, mkdtemp, open, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { freePort } from './free-port.js';
import { scaled, waitFor, withTimeout } from './wait.js';

export interface RedisServerOptions {
  /** Enables the AOF (`appendfsync everysec`; pass `args: ['--appendfsync', 'always']` to fsync every write). @defaultValue false */
  appendonly?: boolean;
  /** Extra `redis-server` arguments, appended last so they override the defaults. */
  args?: string[];
  /** Unscaled time allowed for PING to be answered after each (re)start. @defaultValue 10000 */
  readyTimeoutMs?: number;
  /** A config file given first (sentinels keep their state in theirs: it must be writable). */
  configFile?: string;
  /** Serve TLS only: `--port 0 --tls-port <port>` with these PEM files; the readiness probe speaks TLS too. */
  tls?: RedisServerTls;
  /** Credentials the readiness probe authenticates with (the default user disabled or password-protected). */
  probeAuth?: { username: string; password: string };
}

export interface RedisServerTls {
  certFile: string;
  keyFile: string;
  caFile: string;
  /** `tls-auth-clients`: require a client certificate signed by `caFile`. @defaultValue 'no' */
  authClients?: 'yes' | 'no' | 'optional';
  /** Client certificate and key the readiness probe presents when `authClients` is 'yes'. */
  probeCertFile?: string;
  probeKeyFile?: string;
}

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** redis-server could not bind its port; the caller should try another one (or wait). */
class BindError extends Error {
  override name = 'BindError';
}

const MAX_BIND_ATTEMPTS = 5;
const EXIT_TIMEOUT_MS = 10_000;
const BIND_FAILURE = /Address already in use|Could not create server TCP listening socket|Failed listening on port/i;

const live = new Set<RedisServer>();
// A test process that dies without after() hooks must not leave Redis servers behind.
process.on('exit', () => {
  for (const server of live) server.killSync();
});

export class RedisServer {
  readonly url: string;
  readonly logPath: string;
  private child: ChildProcess | undefined;
  private exited: Promise<ExitInfo> | undefined;
  private exitInfo: ExitInfo | undefined;
  private readonly clients = new Set<Redis>();
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly port: number,
    readonly dir: string,
    private readonly opts: RedisServerOptions,
  ) {
    this.url = `${opts.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`;
    this.logPath = join(dir, 'redis.log');
  }

  /** Spawns a fresh Redis on a free port in a fresh temp dir and waits until it answers PING. */
  static async start(opts: RedisServerOptions = {}): Promise<RedisServer> {
    const dir = await mkdtemp(join(tmpdir(), 'opencti-webhook-redis-'));
    let lastError: unknown;
    for (let attempt = 1; attempt <= MAX_BIND_ATTEMPTS; attempt++) {
      const server = new RedisServer(await freePort(), dir, opts);
      try {
        await server.launch();
        live.add(server);
        return server;
      } catch (err) {
        lastError = err;
        if (!(err instanceof BindError)) break;
      }
    }
    // The error already quotes the redis.log tail; keeping the dir would only leak temp dirs.
    await rm(dir, { recursive: true, force: true });
    throw lastError;
  }

  /** pid of the running redis-server, undefined while it is down. */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.exitInfo === undefined;
  }

  /**
   * Sends `signal` (default SIGKILL: a crash, no AOF flush beyond what `appendfsync` already
   * wrote) and waits for the process to exit. Tracked clients stay open and reconnect after
   * {@link restart}. No-op when Redis is already down.
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    const exited = this.exited;
    if (child === undefined || exited === undefined || this.exitInfo !== undefined) return;
    child.kill(signal);
    try {
      await withTimeout(exited, EXIT_TIMEOUT_MS, `redis-server pid ${child.pid} to exit after ${signal}`);
    } catch (err) {
      if (signal === 'SIGKILL') throw err;
      child.kill('SIGKILL');
      await withTimeout(exited, EXIT_TIMEOUT_MS, `redis-server pid ${child.pid} to exit after SIGKILL`);
    }
  }

  /**
   * Starts Redis again on the same port and dir (gracefully stopping it first if it runs).
   * With `appendonly` the data written before a kill -9 is replayed; readiness waits out
   * `-LOADING`.
   */
  async restart(): Promise<void> {
    if (this.stopping !== undefined) throw new Error(`redis on port ${this.port} was stopped; start a new one`);
    await this.kill('SIGTERM');
    let lastError: unknown;
    for (let attempt = 1; attempt <= MAX_BIND_ATTEMPTS; attempt++) {
      try {
        await this.launch();
        return;
      } catch (err) {
        lastError = err;
        if (!(err instanceof BindError)) break;
        // Someone holds our port; it may be released shortly (we cannot move: clients point here).
        await sleep(scaled(200 * attempt));
      }
    }
    throw lastError;
  }

  /** Final stop: closes tracked clients, SIGTERMs Redis (SIGKILL after 10 s), removes the dir. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      for (const client of this.clients) client.disconnect();
      this.clients.clear();
      try {
        await this.kill('SIGTERM');
      } finally {
        live.delete(this);
        await rm(this.dir, { recursive: true, force: true });
      }
    })();
    return this.stopping;
  }

  /**
   * A new ioredis client for this server, disconnected by {@link stop}. It swallows connection
   * errors (tests kill Redis on purpose); add your own 'error' listener to observe them.
   * BullMQ workers need `{ maxRetriesPerRequest: null }`.
   */
  client(opts: RedisOptions = {}): Redis {
    if (this.stopping !== undefined) throw new Error(`redis on port ${this.port} was stopped`);
    const client = new Redis({ host: '127.0.0.1', port: this.port, ...opts });
    client.on('error', () => {
      // Expected while a test has Redis down; ioredis keeps reconnecting.
    });
    this.clients.add(client);
    client.once('end', () => this.clients.delete(client));
    return client;
  }

  private probeOptions(): ProbeOptions {
    const { tls, probeAuth } = this.opts;
    return {
      ...(tls ? { tls: { ca: readFileSync(tls.caFile, 'utf8'), cert: readFileSync(tls.probeCertFile ?? tls.certFile, 'utf8'), key: readFileSync(tls.probeKeyFile ?? tls.keyFile, 'utf8') } } : {}),
      ...(probeAuth ? { auth: probeAuth } : {}),
    };
  }

  /** Last `lines` lines of redis.log. */
  async logTail(lines = 30, fromByte = 0): Promise<string> {
    let handle;
    try {
      handle = await open(this.logPath, 'r');
    } catch {
      return '(no redis.log)';
    }
    try {
      const { size } = await handle.stat();
      const start = Math.max(fromByte, size - 64 * 1024);
      const buf = Buffer.alloc(size - start);
      await handle.read(buf, 0, buf.length, start);
      return buf.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } finally {
      await handle.close();
    }
  }

  /** @internal Synchronous last-resort cleanup for process exit. */
  killSync(): void {
    if (this.running) this.child?.kill('SIGKILL');
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // Best effort: the process is exiting.
    }
  }

  private argv(): string[] {
    const tls = this.opts.tls;
    const listen = tls
      ? ['--port', '0', '--tls-port', String(this.port), '--tls-cert-file', tls.certFile, '--tls-key-file', tls.keyFile, '--tls-ca-cert-file', tls.caFile,
        '--tls-auth-clients', tls.authClients ?? 'no']
      : ['--port', String(this.port)];
    return [
      ...(this.opts.configFile ? [this.opts.configFile] : []),
      ...listen,
      '--bind', '127.0.0.1',
      '--dir', this.dir,
      '--save', '',
      '--appendonly', this.opts.appendonly === true ? 'yes' : 'no',
      '--appendfsync', 'everysec',
      '--maxmemory-policy', 'noeviction',
      '--daemonize', 'no',
      ...(this.opts.args ?? []),
    ];
  }

  private async launch(): Promise<void> {
    await appendFile(this.logPath, `\n--- spawning redis-server on port ${this.port} at ${new Date().toISOString()} ---\n`);
    const logOffset = statSync(this.logPath).size;
    const fd = openSync(this.logPath, 'a');
    let child: ChildProcess;
    try {
      // spawn() forks synchronously, so the child holds its own copy of fd once this returns.
      child = spawn('redis-server', this.argv(), { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    let spawnError: Error | undefined;
    this.child = child;
    this.exitInfo = undefined;
    const exited = new Promise<ExitInfo>((resolve) => {
      const onExit = (info: ExitInfo): void => {
        if (this.child === child) this.exitInfo = info;
        resolve(info);
      };
      child.once('exit', (code, signal) => onExit({ code, signal }));
      child.once('error', (err) => {
        spawnError = err;
        onExit({ code: null, signal: null });
      });
    });
    this.exited = exited;

    const ac = new AbortController();
    void exited.then((info) =>
      ac.abort(new Error(`redis-server exited before answering PING (code ${info.code}, signal ${info.signal})`)),
    );
    const readyMs = this.opts.readyTimeoutMs ?? 10_000;
    try {
      const pid = await waitFor(() => probeRedis(this.port, this.probeOptions()), {
        timeoutMs: readyMs,
        intervalMs: 50,
        what: `redis-server on port ${this.port} to answer PING`,
        signal: ac.signal,
      });
      if (pid !== child.pid) {
        throw new BindError(`port ${this.port} is served by another redis (pid ${pid}, ours ${child.pid})`);
      }
    } catch (err) {
      if (this.exitInfo === undefined) child.kill('SIGKILL');
      await withTimeout(exited, EXIT_TIMEOUT_MS, `redis-server pid ${child.pid} to exit`).catch(() => undefined);
      if (spawnError !== undefined) {
        throw new Error(`could not spawn redis-server (is it on PATH?): ${spawnError.message}`, { cause: err });
      }
      const tail = await this.logTail(30, logOffset);
      const message = `${(err as Error).message}\nredis log ${this.logPath}, tail:\n${tail}`;
      if (err instanceof BindError || BIND_FAILURE.test(tail)) throw new BindError(message, { cause: err });
      throw new Error(message, { cause: err });
    }
  }
}

interface ProbeOptions {
  tls?: { ca: string; cert: string; key: string };
  auth?: { username: string; password: string };
}

/**
 * One readiness probe over a raw socket (TLS when the server serves only TLS): AUTH when
 * given, then PING must answer +PONG; then `INFO server` tells which process answered.
 * Error replies (`-LOADING` during AOF replay) and connection errors reject, so
 * {@link waitFor} keeps polling and reports the last one.
 */
function probeRedis(port: number, options: ProbeOptions = {}, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = options.tls
      ? tlsConnect({ host: '127.0.0.1', port, ...options.tls, checkServerIdentity: () => undefined })
      : createConnection({ host: '127.0.0.1', port });
    const auth = options.auth ? `AUTH ${options.auth.username} ${options.auth.password}\r\n` : '';
    let buf = '';
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      fn();
    };
    const PONG = '+PONG\r\n';
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => settle(() => reject(new Error(`no reply within ${timeoutMs} ms`))));
    socket.on(options.tls ? 'secureConnect' : 'connect', () => socket.write(`${auth}PING\r\nINFO server\r\n`));
    socket.on('data', (chunk: string) => {
      buf += chunk;
      if (auth && buf.startsWith('+OK\r\n')) buf = buf.slice('+OK\r\n'.length);
      if (buf.startsWith('-')) {
        const end = buf.indexOf('\r\n');
        if (end >= 0) settle(() => reject(new Error(`redis replied ${buf.slice(0, end)}`)));
        return;
      }
      if (!buf.startsWith(PONG)) {
        if (!PONG.startsWith(buf)) settle(() => reject(new Error(`unexpected reply ${JSON.stringify(buf.slice(0, 60))}`)));
        return;
      }
      const match = /process_id:(\d+)\r\n/.exec(buf);
      if (match?.[1] !== undefined) {
        const pid = Number(match[1]);
        settle(() => resolve(pid));
      }
    });
    socket.on('error', (err: Error) => settle(() => reject(err)));
    socket.on('close', () => settle(() => reject(new Error('connection closed before a reply'))));
  });
}

/**
 * Convenience for node:test: starts Redis and registers its stop on `t.after` (or returns it
 * for the caller to stop when `t` is omitted).
 */
export async function startRedis(
  t?: { after: (fn: () => Promise<void>) => void },
  opts?: RedisServerOptions,
): Promise<RedisServer> {
  const server = await RedisServer.start(opts);
  t?.after(() => server.stop());
  return server;
}

/** One command to a plain (no TLS, no auth) Redis or Sentinel on loopback, on a connection of its own. */
export async function redisCommand<T>(port: number, args: string[]): Promise<T> {
  const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 1_000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.call(args[0]!, ...args.slice(1))) as T;
  } finally {
    client.disconnect();
  }
}
