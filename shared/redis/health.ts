import type { RedisClient } from './client.js';
import { Gauge, type Registry } from 'prom-client';
import type { ReadinessCheck } from '../observability/readiness.js';

/**
 * ioredis reports 'ready' only after the connection is up and (for a Redis
 * loading its AOF) the data set is loaded; every other status means
 * commands are waiting for a reconnect.
 */
export function redisReadyCheck(redis: RedisClient): ReadinessCheck {
  return () => (redis.status === 'ready' ? undefined : `redis ${redis.status}`);
}

/** `opencti_webhook_redis_up`: 1 while the process's Redis connection is ready, read at scrape time. */
export function registerRedisUpGauge(registry: Registry, redis: RedisClient): void {
  new Gauge({
    name: 'opencti_webhook_redis_up',
    help: '1 while the connection to Redis is ready, 0 while it is down or reconnecting',
    registers: [registry],
    collect() {
      this.set(redis.status === 'ready' ? 1 : 0);
    },
  });
}
