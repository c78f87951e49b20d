import type { Queue } from 'bullmq';
import type { DestinationKeys } from '../../shared/queue/contract.js';
import type { RedisClient } from '../../shared/redis/client.js';
import type { CliArgs } from '../args.js';

/** One destination a command acts on: its queue and shared keys. */
export interface CommandDestination {
  name: string;
  /** False for a destination the configuration no longer lists (named with --destination). */
  configured: boolean;
  keys: DestinationKeys;
  queue: Queue;
}

interface CommandContext {
  /** Those chosen by cli/destinations.ts: exactly one for replay and purge. */
  destinations: readonly CommandDestination[];
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

/** The destination of a command that acts on one (replay, purge). */
export function single(destinations: readonly CommandDestination[]): CommandDestination {
  if (destinations.length !== 1) throw new Error(`expected one destination, got ${destinations.length}`);
  return destinations[0]!;
}
