/**
 * A dedicated `redis-server` per test file, spawned from PATH (we have no Docker), never the
 * shared instance on 6379. Finding, spawning and the readiness check are the demo's throwaway
 * Redis (demo/redis-server.ts); this adds what tests need on top:
 *
 * - `kill()` + `restart()` keep port and data dir, so a test can crash Redis under a running
 *   product and bring the same instance back (with AOF data when `appendonly` is on);
 * - TLS, ACL credentials for the readiness probe, a config file, extra arguments;
 * - tracked clients, and a last-resort kill when the test process exits.
 */
import { readFileSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis, type RedisOptions } from 'ioredis';
import { stopChild, type ExitInfo } from '../../demo/child.js';
import { launchRedis, onFreePort, redisArgs, RedisBindError, redisLogTail, type LaunchedRedis, type RedisProbeOptions } from '../../demo/redis-server.js';
import { scaled } from './wait.js';

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

const MAX_BIND_ATTEMPTS = 5;
const EXIT_TIMEOUT_MS = 10_000;

const live = new Set<RedisServer>();
// A test process that dies without after() hooks must not leave Redis servers behind.
process.on('exit', () => {
  for (const server of live) server.killSync();
});

export class RedisServer {
  readonly url: string;
  readonly logPath: string;
  private launched: LaunchedRedis | undefined;
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
    try {
      return await onFreePort(async (port) => {
        const server = new RedisServer(port, dir, opts);
        await server.launch();
        live.add(server);
        return server;
      });
    } catch (error) {
      // The error already quotes the redis.log tail; keeping the dir would only leak temp dirs.
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** pid of the running redis-server, undefined while it is down. */
  get pid(): number | undefined {
    return this.running ? this.launched?.child.pid : undefined;
  }

  get running(): boolean {
    return this.launched !== undefined && this.exitInfo === undefined;
  }

  /**
   * Sends `signal` (default SIGKILL: a crash, no AOF flush beyond what `appendfsync` already
   * wrote) and waits for the process to exit. Tracked clients stay open and reconnect after
   * {@link restart}. No-op when Redis is already down.
   */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.launched === undefined || this.exitInfo !== undefined) return;
    await stopChild(this.launched.child, this.launched.exited, signal, scaled(EXIT_TIMEOUT_MS));
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
        if (!(err instanceof RedisBindError)) break;
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

  /** Last `lines` lines of redis.log. */
  logTail(lines = 30, fromByte = 0): Promise<string> {
    return redisLogTail(this.logPath, lines, fromByte);
  }

  /** @internal Synchronous last-resort cleanup for process exit. */
  killSync(): void {
    if (this.running) this.launched?.child.kill('SIGKILL');
    try {
      rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // Best effort: the process is exiting.
    }
  }

  private probeOptions(): RedisProbeOptions {
    const { tls, probeAuth } = this.opts;
    return {
      ...(tls ? { tls: { ca: readFileSync(tls.caFile, 'utf8'), cert: readFileSync(tls.probeCertFile ?? tls.certFile, 'utf8'), key: readFileSync(tls.probeKeyFile ?? tls.keyFile, 'utf8') } } : {}),
      ...(probeAuth ? { auth: probeAuth } : {}),
    };
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
      ...redisArgs(this.dir, this.opts.appendonly === true),
      ...(this.opts.args ?? []),
    ];
  }

  private async launch(): Promise<void> {
    this.exitInfo = undefined;
    const launched = await launchRedis({
      port: this.port,
      args: this.argv(),
      logPath: this.logPath,
      readyTimeoutMs: scaled(this.opts.readyTimeoutMs ?? 10_000),
      probe: this.probeOptions(),
    });
    this.launched = launched;
    void launched.exited.then((info) => {
      if (this.launched === launched) this.exitInfo = info;
    });
  }
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
