import { Cluster } from 'ioredis';
import type { RedisClient } from '../../shared/redis/client.js';

/** Redis memory as `INFO memory` reports it. */
export interface RedisMemory {
  /** `used_memory`: what `maxmemory` is compared with. */
  usedBytes: number;
  /** `maxmemory`; 0 when none is set. */
  maxBytes: number;
}

/**
 * The memory of the Redis that holds the queue: the server, the master a
 * Sentinel names, or in a Cluster the fullest of the masters (the connector's
 * keys share one slot, hence one master, but which one moves with
 * resharding; the fullest bounds it). Undefined when no maxmemory is set.
 */
export async function readRedisMemory(redis: RedisClient): Promise<RedisMemory | undefined> {
  const nodes = redis instanceof Cluster ? redis.nodes('master') : [redis];
  const readings = await Promise.all(nodes.map(async (node) => parseMemory(await node.info('memory'))));
  let fullest: RedisMemory | undefined;
  for (const reading of readings) {
    if (reading.maxBytes > 0 && (!fullest || reading.usedBytes / reading.maxBytes > fullest.usedBytes / fullest.maxBytes)) fullest = reading;
  }
  return fullest;
}

function parseMemory(info: string): RedisMemory {
  const field = (name: string): number => Number(new RegExp(`^${name}:(\\d+)\\r?$`, 'm').exec(info)?.[1] ?? 0);
  return { usedBytes: field('used_memory'), maxBytes: field('maxmemory') };
}
