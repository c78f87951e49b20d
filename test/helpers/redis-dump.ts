import type { Redis } from 'ioredis';

/** Every key and value of the Redis `client` is connected to, as text: what a leak scan reads. */
export async function dumpRedis(client: Redis): Promise<string> {
  const parts: string[] = [];
  for (const key of await client.keys('*')) {
    const type = await client.type(key);
    let value: unknown;
    if (type === 'string') value = await client.get(key);
    else if (type === 'hash') value = await client.hgetall(key);
    else if (type === 'list') value = await client.lrange(key, 0, -1);
    else if (type === 'set') value = await client.smembers(key);
    else if (type === 'zset') value = await client.zrange(key, '0', '-1', 'WITHSCORES');
    else if (type === 'stream') value = await client.xrange(key, '-', '+');
    else value = `(${type})`;
    parts.push(`${key} ${type} ${JSON.stringify(value)}`);
  }
  return parts.join('\n');
}
