import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

const COMPOSE_FILE = new URL('../../docker-compose.yml', import.meta.url);

/**
 * The `redis-server` arguments of docker-compose.yml's webhook-redis service, so the
 * bench measures the Redis settings users deploy (AOF, fsync, eviction,
 * rewrite thresholds, maxmemory) instead of a copy that drifts, with
 * `${VAR:-default}` taken as compose takes it when VAR is unset. Throws when
 * the service or its command is missing.
 */
export function composeRedisArgs(file: URL | string = COMPOSE_FILE): string[] {
  const compose = parse(readFileSync(file, 'utf8')) as { services?: { 'webhook-redis'?: { command?: unknown } } };
  const command = compose.services?.['webhook-redis']?.command;
  if (!Array.isArray(command) || command[0] !== 'redis-server' || !command.every((arg) => typeof arg === 'string')) {
    throw new Error(`bench: ${String(file)} has no services.webhook-redis.command list starting with "redis-server"`);
  }
  return (command.slice(1)).map((arg) => arg.replace(/\$\{\w+:-([^}]*)\}/g, '$1'));
}
