import { pipelineEnv } from './factories.js';
import { stopAll } from './processes.js';
import { RecordingReceiver } from './recording-receiver.js';
import { RedisServer, type RedisServerOptions } from './redis-server.js';
import { StreamEmulator, type StreamEmulatorOptions } from './stream-emulator.js';

/** What an end-to-end test runs the product against: its own Redis, an OpenCTI emulator and a webhook receiver. */
export interface TestBed {
  redis: RedisServer;
  emulator: StreamEmulator;
  receiver: RecordingReceiver;
  /** Environment of a fresh connector wired to this bed. */
  env(overrides?: Record<string, string>): Record<string, string>;
  /** Kills the product processes, then closes the bed. */
  close(): Promise<void>;
}

export async function startTestBed(options: { redis?: RedisServerOptions; emulator?: StreamEmulatorOptions } = {}): Promise<TestBed> {
  const redis = await RedisServer.start(options.redis);
  const emulator = await StreamEmulator.start({ heartbeatIntervalMs: 200, ...options.emulator });
  const receiver = await RecordingReceiver.start();
  return {
    redis,
    emulator,
    receiver,
    env: (overrides) => pipelineEnv({ redisUrl: redis.url, openctiUrl: emulator.url, webhookUrl: receiver.url }, overrides),
    close: async () => {
      await stopAll();
      await Promise.all([receiver.close(), emulator.close()]);
      await redis.stop();
    },
  };
}
