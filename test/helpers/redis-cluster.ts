/**
 * A throwaway Redis Cluster on loopback: `masters` masters with one replica
 * each, made of {@link RedisServer}s (`--cluster-enabled yes`, a free bus
 * port each, a low `cluster-node-timeout` so a killed master's replica is
 * promoted within seconds), joined by `redis-cli --cluster create`.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';
import { RedisServer, redisCommand } from './redis-server.js';
import { waitFor } from './wait.js';

const run = promisify(execFile);

export interface RedisClusterOptions {
  /** @defaultValue 3 */
  masters?: number;
  /** Milliseconds without an answer before a node is failed and its replica promoted. @defaultValue 2000 */
  nodeTimeoutMs?: number;
}

export class RedisCluster {
  private constructor(readonly nodes: RedisServer[]) {}

  static async start(options: RedisClusterOptions = {}): Promise<RedisCluster> {
    const count = (options.masters ?? 3) * 2;
    const nodes: RedisServer[] = [];
    const cluster = new RedisCluster(nodes);
    try {
      for (let i = 0; i < count; i += 1) {
        nodes.push(
          await RedisServer.start({
            appendonly: true,
            args: [
              '--cluster-enabled', 'yes',
              '--cluster-port', String(await freePort()),
              '--cluster-node-timeout', String(options.nodeTimeoutMs ?? 2_000),
              // A replica may be promoted however long it was cut off (the test kills masters on purpose).
              '--cluster-replica-validity-factor', '0',
            ],
          }),
        );
      }
      await run('redis-cli', ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '1', '--cluster-yes'], {
        timeout: 30_000,
      });
      await cluster.waitUntilHealthy();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** `host:port,…` of every node, for REDIS_CLUSTER_NODES. */
  get nodesList(): string {
    return this.nodes.map((node) => `127.0.0.1:${node.port}`).join(',');
  }

  /** Every live node says the cluster is ok and every slot is served by a live master. */
  async waitUntilHealthy(timeoutMs = 30_000): Promise<void> {
    await waitFor(
      async () => {
        for (const node of this.nodes.filter((n) => n.running)) {
          const info = await redisCommand<string>(node.port, ['cluster', 'info']);
          if (!/cluster_state:ok/.test(info)) return undefined;
        }
        return true;
      },
      { timeoutMs, intervalMs: 200, what: 'the Redis Cluster to report cluster_state:ok on every live node' },
    );
  }

  /** The node serving `key`'s slot as master, as a live node sees it. */
  async masterOf(key: string): Promise<RedisServer> {
    const viewer = this.nodes.find((node) => node.running)!;
    const slot = await redisCommand<number>(viewer.port, ['cluster', 'keyslot', key]);
    const slots = await redisCommand<Array<[number, number, [string, number, string]]>>(viewer.port, ['cluster', 'slots']);
    const range = slots.find(([from, to]) => slot >= from && slot <= to);
    const port = range?.[2][1];
    const node = this.nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no node serves slot ${slot} of ${key}`);
    return node;
  }

  /** Waits until `key`'s slot is served by a live master other than `former`; resolves with it. */
  async waitForFailover(key: string, former: RedisServer, timeoutMs = 30_000): Promise<RedisServer> {
    return waitFor(
      async () => {
        const master = await this.masterOf(key);
        return master !== former && master.running ? master : undefined;
      },
      { timeoutMs, intervalMs: 100, what: `a replica of port ${former.port} to be promoted` },
    );
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }

}
