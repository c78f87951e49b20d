/**
 * A throwaway Sentinel setup on loopback: a master, `replicas` replicas and
 * `sentinels` sentinels (`redis-server <conf> --sentinel`, Debian ships no
 * redis-sentinel binary) monitoring it under {@link MASTER_NAME} with a low
 * down-after-milliseconds, so a killed master is failed over within seconds.
 * Every process is a {@link RedisServer}; a sentinel's config file lives in a
 * dir of its own because Sentinel rewrites it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RedisServer, redisCommand } from './redis-server.js';
import { waitFor } from './wait.js';

export const MASTER_NAME = 'webhook-master';

export interface RedisSentinelOptions {
  /** @defaultValue 1 */
  replicas?: number;
  /** @defaultValue 3 */
  sentinels?: number;
  /** @defaultValue 2 */
  quorum?: number;
  /** @defaultValue 1000 */
  downAfterMs?: number;
}

export class RedisSentinels {
  private constructor(
    readonly servers: RedisServer[],
    readonly sentinels: RedisServer[],
    private readonly configDir: string,
  ) {}

  static async start(options: RedisSentinelOptions = {}): Promise<RedisSentinels> {
    const configDir = await mkdtemp(join(tmpdir(), 'opencti-webhook-sentinel-'));
    const setup = new RedisSentinels([], [], configDir);
    try {
      const master = await RedisServer.start({ appendonly: true });
      setup.servers.push(master);
      for (let i = 0; i < (options.replicas ?? 1); i += 1) {
        setup.servers.push(await RedisServer.start({ appendonly: true, args: ['--replicaof', '127.0.0.1', String(master.port)] }));
      }
      await setup.waitForReplicas(master, options.replicas ?? 1);
      for (let i = 0; i < (options.sentinels ?? 3); i += 1) {
        const configFile = join(configDir, `sentinel-${i}.conf`);
        await writeFile(
          configFile,
          [
            `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} ${options.quorum ?? 2}`,
            `sentinel down-after-milliseconds ${MASTER_NAME} ${options.downAfterMs ?? 1_000}`,
            `sentinel failover-timeout ${MASTER_NAME} 10000`,
            `sentinel parallel-syncs ${MASTER_NAME} 1`,
            '',
          ].join('\n'),
        );
        // --port is chosen by RedisServer; the monitor line must come from the file.
        setup.sentinels.push(await RedisServer.start({ configFile, args: ['--sentinel'] }));
      }
      await setup.waitForMaster(master);
    } catch (error) {
      await setup.stop();
      throw error;
    }
    return setup;
  }

  /** `host:port,…` of the sentinels, for REDIS_SENTINELS. */
  get sentinelList(): string {
    return this.sentinels.map((sentinel) => `127.0.0.1:${sentinel.port}`).join(',');
  }

  /** The server every live sentinel names as master. */
  async master(): Promise<RedisServer> {
    let port: number | undefined;
    for (const sentinel of this.sentinels.filter((s) => s.running)) {
      const [, named] = (await redisCommand<[string, string]>(sentinel.port, ['sentinel', 'get-master-addr-by-name', MASTER_NAME])) ?? [];
      if (port !== undefined && Number(named) !== port) throw new Error('the sentinels disagree on the master');
      port = Number(named);
    }
    const server = this.servers.find((s) => s.port === port);
    if (!server) throw new Error(`the sentinels name an unknown master (port ${port})`);
    return server;
  }

  /** Waits until every sentinel names a live master other than `former` and it answers as master; resolves with it. */
  async waitForFailover(former: RedisServer, timeoutMs = 30_000): Promise<RedisServer> {
    return waitFor(
      async () => {
        const master = await this.master().catch(() => undefined);
        if (!master || master === former || !master.running) return undefined;
        const role = await redisCommand<unknown[]>(master.port, ['role']);
        return role[0] === 'master' ? master : undefined;
      },
      { timeoutMs, intervalMs: 100, what: `the sentinels to fail over from port ${former.port}` },
    );
  }

  async stop(): Promise<void> {
    await Promise.all([...this.sentinels, ...this.servers].map((server) => server.stop()));
    await rm(this.configDir, { recursive: true, force: true });
  }

  private async waitForReplicas(master: RedisServer, count: number): Promise<void> {
    await waitFor(
      async () => {
        const info = await redisCommand<string>(master.port, ['info', 'replication']);
        return (info.match(/^slave\d+:.*state=online/gm)?.length ?? 0) >= count ? true : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 100, what: `${count} replica(s) online at the master` },
    );
  }

  /** Every sentinel knows the master, its replicas and the other sentinels: a failover can be voted. */
  private async waitForMaster(master: RedisServer): Promise<void> {
    await waitFor(
      async () => {
        for (const sentinel of this.sentinels) {
          const state = await redisCommand<string[]>(sentinel.port, ['sentinel', 'master', MASTER_NAME]);
          const fields = Object.fromEntries(state.flatMap((value, i) => (i % 2 === 0 ? [[value, state[i + 1]]] : [])));
          if (Number(fields.port) !== master.port || Number(fields['num-other-sentinels']) < this.sentinels.length - 1 || Number(fields['num-slaves']) < this.servers.length - 1) {
            return undefined;
          }
        }
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'every sentinel to know the master, its replicas and the other sentinels' },
    );
  }

}
