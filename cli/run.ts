/**
 * The operator CLI as a function of its arguments, configuration sources and
 * output streams, so tests run it in-process; main.ts binds it to the real
 * process. See USAGE in args.ts.
 */
import { Queue } from 'bullmq';
import { ConfigError, type ConfigSources } from '../shared/config/load.js';
import { destinationKeys, queuePrefix } from '../shared/queue/contract.js';
import type { RedisClient } from '../shared/redis/client.js';
import { VERSION_LINE } from '../shared/process/version.js';
import { parseArgs, USAGE, UsageError, type CliArgs, type CommandName } from './args.js';
import { check } from './commands/check.js';
import type { Command, CommandDestination } from './commands/command.js';
import { failed } from './commands/failed.js';
import { purge } from './commands/purge.js';
import { replay } from './commands/replay.js';
import { status } from './commands/status.js';
import { loadCliConfig, type CliConfig } from './config.js';
import { chooseDestinations, notConfiguredWarning, unknownDestination, type ChosenDestination } from './destinations.js';
import { connectRedis, describeError } from './redis.js';

/** The commands that act on the queues; `check` reads the configuration of every process itself. */
const COMMANDS: Record<Exclude<CommandName, 'check'>, Command> = { status, failed, replay, purge };
const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

export interface CliIo {
  /** Where the configuration comes from: the environment, config.yml. */
  config: ConfigSources;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Runs one CLI command; resolves with the exit code (0 done, 1 failed, 2 usage or configuration). */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const fail = (code: number, message: string): number => {
    io.stderr(`opencti-webhook cli: ${message}\n`);
    return code;
  };
  const usage = (error: UsageError): number => fail(EXIT.usage, `${error.message}\n\n${USAGE}`);
  let args: CliArgs;
  let config: CliConfig;
  let chosen: ChosenDestination[];
  try {
    const parsed = parseArgs(argv);
    if (parsed.show !== undefined) {
      io.stdout(`${parsed.show === 'help' ? USAGE : VERSION_LINE}\n`);
      return EXIT.ok;
    }
    args = parsed.args;
    if (args.command === 'check') {
      const result = await check(args, io.config);
      io.stdout(args.json ? `${JSON.stringify(result.json, null, 2)}\n` : `${result.text}\n`);
      return result.ok ? EXIT.ok : EXIT.failed;
    }
    config = loadCliConfig(io.config);
    chosen = chooseDestinations(args.command, args.destination, configuredNames(config));
  } catch (error) {
    if (error instanceof UsageError) return usage(error);
    if (error instanceof ConfigError) return fail(EXIT.usage, `invalid configuration:\n${error.problems.map((p) => `  ${p.variable} (${p.key}) ${p.message}`).join('\n')}`);
    throw error;
  }

  const connection = await connectRedis(config.redis, 'cli');
  if ('error' in connection) return fail(EXIT.failed, connection.error);
  const { redis } = connection;
  const connectorId = config.connector.id;
  const destinations = chosen.map((destination) => openDestination(destination, connectorId, redis));
  try {
    for (const { name, configured, queue } of destinations) {
      if (configured) continue;
      // Every Queue the ingester, dispatchers and board open writes BullMQ's meta hash (the CLI's own do not): none, no such queue.
      if ((await queue.getVersion()) === null) return usage(unknownDestination(name, configuredNames(config)));
      io.stderr(`opencti-webhook cli: ${notConfiguredWarning(name)}\n`);
    }
    const result = await COMMANDS[args.command]({ destinations, redis, connectorId, args, now: Date.now() });
    io.stdout(args.json ? `${JSON.stringify(result.json, null, 2)}\n` : `${result.text}\n`);
    return result.ok ? EXIT.ok : EXIT.failed;
  } catch (error) {
    return fail(EXIT.failed, `${args.command} failed: ${describeError(error)}`);
  } finally {
    await Promise.all(destinations.map(({ queue }) => queue.close().catch(() => undefined)));
    redis.disconnect();
  }
}

function configuredNames(config: CliConfig): string[] {
  return config.destinations.map(({ name }) => name);
}

/** The CLI only looks and acts on jobs: its queues leave BullMQ's meta hash alone, so a mistyped name leaves nothing behind. */
function openDestination({ name, configured }: ChosenDestination, connectorId: string, redis: RedisClient): CommandDestination {
  const keys = destinationKeys(connectorId, name);
  const queue = new Queue(keys.queueName, { connection: redis, prefix: queuePrefix(connectorId), skipMetasUpdate: true });
  return { name, configured, keys, queue };
}
