/**
 * The CLI's connection to Redis: fail fast (a person is waiting, unlike the
 * services, which wait for Redis forever), with the reason in words.
 */
import type { RedisSettings } from '../shared/config/redis-fields.js';
import { redactUrl } from '../shared/observability/redact.js';
import { createRedisClient, describeRedisRejection, type RedisClient } from '../shared/redis/client.js';

export type RedisConnection = { redis: RedisClient } | { error: string };

/**
 * Connects `role`'s client; on failure, why, naming the target without
 * credentials. `signal` drops a connection still waiting for a server that
 * accepted the socket but does not answer (no timeout covers that).
 */
export async function connectRedis(settings: RedisSettings, role: string, signal?: AbortSignal): Promise<RedisConnection> {
  const redis = createRedisClient(settings, role, { failFast: true });
  const drop = (): void => redis.disconnect();
  signal?.addEventListener('abort', drop, { once: true });
  // Failures surface as rejected commands; the event only keeps the socket's reason,
  // which connect() replaces with a bare "Connection is closed".
  let socketError: unknown;
  redis.on('error', (error: unknown) => {
    socketError = error;
  });
  try {
    await redis.connect();
    return { redis };
  } catch (error) {
    redis.disconnect();
    const reason: unknown = signal?.aborted ? signal.reason : (socketError ?? error);
    return { error: `cannot reach Redis ${settings.mode === 'standalone' ? 'at ' : ''}${redisTarget(settings)}: ${describeRedisRejection(reason) ?? describeError(reason)}` };
  }
}

export function describeError(error: unknown): string {
  const { message, code } = error as { message?: string; code?: string };
  return code && !message?.includes(code) ? `${message} (${code})` : (message ?? String(error));
}

/** Where the CLI looks for Redis, without credentials. */
export function redisTarget(redis: RedisSettings): string {
  if (redis.mode === 'cluster') return `cluster ${(redis.cluster_nodes ?? []).map(({ host, port }) => `${host}:${port}`).join(',') || redactUrl(redis.url)}`;
  if (redis.mode === 'sentinel') return `sentinel master ${redis.sentinel_master ?? ''} via ${(redis.sentinels ?? []).map(({ host, port }) => `${host}:${port}`).join(',')}`;
  return redactUrl(redis.url);
}
