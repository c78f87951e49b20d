/**
 * The bed of the topology suite: the OpenCTI stream emulator and a recording
 * receiver as in the fault suite, and a Redis of any topology described only
 * by REDIS_* variables, exactly as an operator would configure it. The
 * suite's own queue oracles connect through the product's factory with the
 * same variables.
 */
import { z } from 'zod';
import { loadConfig } from '../../shared/config/load.js';
import { RedisSection } from '../../shared/config/schema.js';
import { createRedisClient, type RedisClient } from '../../shared/redis.js';
import type { PipelineBed } from '../fault/harness.js';
import { pipelineEnv } from '../helpers/factories.js';
import { stopAll } from '../helpers/processes.js';
import { RecordingReceiver } from '../helpers/recording-receiver.js';
import { StreamEmulator } from '../helpers/stream-emulator.js';

export interface TopologyBed extends PipelineBed {
  /** The suite's own connection, through the product's factory. */
  client: RedisClient;
}

const RedisOnly = z.object({ redis: RedisSection });

/** A client for the REDIS_* variables `redisEnv`, as the processes build theirs. */
export function clientFor(redisEnv: Record<string, string>, role = 'test'): RedisClient {
  const client = createRedisClient(loadConfig(RedisOnly, { env: redisEnv }).redis, role);
  // Failovers are the point of the suite; the processes' logs say what happened.
  client.on('error', () => undefined);
  client.on('node error', () => undefined);
  return client;
}

/** `redisEnv` always names a REDIS_URL, so no process falls back to the default (a developer's own Redis). */
export async function startTopologyBed(redisEnv: Record<string, string> & { REDIS_URL: string }, stopRedis: () => Promise<void>): Promise<TopologyBed> {
  const emulator = await StreamEmulator.start({ heartbeatIntervalMs: 200 });
  const receiver = await RecordingReceiver.start();
  const client = clientFor(redisEnv);
  return {
    emulator,
    receiver,
    client,
    env: (overrides) =>
      pipelineEnv({ redisUrl: redisEnv.REDIS_URL, openctiUrl: emulator.url, webhookUrl: receiver.url }, { ...redisEnv, ...overrides }),
    close: async () => {
      await stopAll();
      client.disconnect();
      await Promise.all([receiver.close(), emulator.close()]);
      await stopRedis();
    },
  };
}
