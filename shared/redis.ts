import { Redis } from 'ioredis';
import type { Logger } from './logger.js';

/**
 * One ioredis connection configured for BullMQ: commands wait for a reconnect
 * instead of failing (maxRetriesPerRequest: null), so a Redis restart pauses
 * the pipeline rather than losing work. Errors are logged once per outage.
 */
export function createRedis(url: string, role: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: null,
    connectionName: `opencti-webhook:${role}`,
    retryStrategy: (attempt) => Math.min(attempt * 250, 5_000),
  });
  let down = false;
  redis.on('error', (error: Error) => {
    if (down) return;
    down = true;
    logger.warn({ role, err: { message: error.message, code: (error as NodeJS.ErrnoException).code } }, 'redis.unavailable');
  });
  redis.on('ready', () => {
    if (down) logger.info({ role }, 'redis.recovered');
    down = false;
  });
  return redis;
}
