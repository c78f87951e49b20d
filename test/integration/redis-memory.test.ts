/**
 * How the ingester reads Redis memory (ingester/backpressure/redis-memory.ts), against a
 * throwaway redis-server and a throwaway 3-master Redis Cluster. Oracle: the
 * servers' own INFO memory.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Cluster } from 'ioredis';
import { readRedisMemory } from '../../ingester/backpressure/redis-memory.js';
import { queuePrefix } from '../../shared/queue/contract.js';
import { RedisCluster } from '../helpers/redis-cluster.js';
import { RedisServer, redisCommand } from '../helpers/redis-server.js';

const MB = 1024 * 1024;

describe('readRedisMemory', () => {
  const closers: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const close of closers.reverse()) await close();
  });

  it('reads used_memory and maxmemory of a server, and nothing when it has no maxmemory', async () => {
    const server = await RedisServer.start({ args: ['--maxmemory', '64mb'] });
    closers.push(() => server.stop());
    const client = server.client();
    const memory = await readRedisMemory(client);
    assert.equal(memory?.maxBytes, 64 * MB);
    assert.ok(memory.usedBytes > 0 && memory.usedBytes < 64 * MB, `used ${memory.usedBytes}`);
    await client.config('SET', 'maxmemory', '0');
    assert.equal(await readRedisMemory(client), undefined);
  });

  it('takes the fullest master of a Redis Cluster', async () => {
    const cluster = await RedisCluster.start();
    closers.push(() => cluster.stop());
    const key = `${queuePrefix('memory-test')}:big`;
    const holder = await cluster.masterOf(key);
    for (const node of cluster.nodes) await redisCommand(node.port, ['config', 'set', 'maxmemory', String(256 * MB)]);
    const client = new Cluster([{ host: '127.0.0.1', port: holder.port }]);
    closers.push(() => client.quit());
    await client.set(key, 'x'.repeat(8 * MB));
    const memory = await readRedisMemory(client);
    const info = await redisCommand<string>(holder.port, ['info', 'memory']);
    const holderUsed = Number(/^used_memory:(\d+)/m.exec(info)?.[1]);
    assert.equal(memory?.maxBytes, 256 * MB);
    assert.ok(memory.usedBytes >= 8 * MB, `read ${memory.usedBytes} bytes, the master holding ${key} uses ${holderUsed}`);
  });
});
