import { Cluster } from 'ioredis';
import type { RedisSettings } from '../../shared/config/redis-fields.js';
import { connectRedis, describeError } from '../redis.js';
import { withDeadline, type CheckRow } from './row.js';

/** Redis as INFO reports it, per node that holds data (every master of a Cluster). */
interface RedisNodeInfo {
  version: string;
  policy: string;
  maxmemory: number;
}

/**
 * Connects as the services would, PINGs, and reads INFO: the version and the
 * eviction policy. Anything but `noeviction` lets Redis drop queued events
 * and the stream position under memory pressure (docs/redis-memory.md): a
 * warning, since Redis works until memory runs short. Reads only.
 */
export async function probeRedis(settings: RedisSettings, target: string, timeoutMs: number): Promise<CheckRow> {
  const row = (result: CheckRow['result'], detail: string): CheckRow => ({ check: 'redis', target, result, detail });
  // Aborted at the deadline or at the end, whichever comes first: either way the connection goes.
  const done = new AbortController();
  const work = async (): Promise<CheckRow> => {
    const connection = await connectRedis(settings, 'cli-check', done.signal);
    if ('error' in connection) return row('fail', connection.error);
    const client = connection.redis;
    try {
      const started = Date.now();
      await client.ping();
      const pingMs = Date.now() - started;
      const nodes = client instanceof Cluster ? client.nodes('master') : [client];
      const infos = await Promise.all(nodes.map(async (node) => parseInfo(await node.info())));
      const evicting = [...new Set(infos.map(({ policy }) => policy).filter((policy) => policy !== 'noeviction'))];
      const versions = [...new Set(infos.map(({ version }) => version))].join(', ');
      const maxmemory = Math.max(...infos.map((info) => info.maxmemory));
      const memory = maxmemory > 0 ? `maxmemory ${formatBytes(maxmemory)}` : 'no maxmemory (only INGESTER_MAX_QUEUED_EVENTS bounds the queue)';
      const summary = `PING answered in ${pingMs} ms; Redis ${versions}${nodes.length > 1 ? ` (${nodes.length} masters)` : ''}`;
      if (evicting.length > 0) {
        return row('warn', `${summary}; maxmemory-policy ${evicting.join(', ')}: under memory pressure Redis may evict queued events and the stream position; set noeviction (docs/redis-memory.md)`);
      }
      return row('ok', `${summary}; maxmemory-policy noeviction, ${memory}`);
    } catch (error) {
      return row('fail', `Redis answered the connection but not the check: ${describeError(error)}`);
    }
  };
  try {
    return await withDeadline(work(), timeoutMs, () => row('fail', `no answer from Redis within ${timeoutMs} ms`));
  } finally {
    done.abort();
  }
}

function parseInfo(info: string): RedisNodeInfo {
  const field = (name: string): string => new RegExp(`^${name}:(.*?)\\r?$`, 'm').exec(info)?.[1] ?? '';
  return { version: field('redis_version') || 'of unknown version', policy: field('maxmemory_policy') || 'unknown', maxmemory: Number(field('maxmemory')) || 0 };
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}
