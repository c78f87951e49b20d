import type { Queue } from 'bullmq';
import type { RedisClient } from '../../shared/redis/client.js';
import type { CliArgs } from '../args.js';

interface CommandContext {
  queue: Queue;
  redis: RedisClient;
  connectorId: string;
  args: CliArgs;
  now: number;
}

interface CommandResult {
  /** What `--json` prints. */
  json: unknown;
  /** What a person reads. */
  text: string;
  /** False makes the CLI exit 1 (something asked for was not done). */
  ok: boolean;
}

export type Command = (context: CommandContext) => Promise<CommandResult>;
