/** Command-line parsing for the operator CLI; pure, so it is unit-tested without Redis. */
import { ErrorCode } from '../shared/errors/codes.js';
import { OwhError } from '../shared/errors/owh-error.js';

const COMMANDS = ['status', 'failed', 'replay', 'purge'] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface CliArgs {
  command: CommandName;
  json: boolean;
  /** replay: every failed event. */
  all: boolean;
  /** replay: these job ids (= webhook-ids). */
  ids: string[];
  /** failed: how many to list, newest first. */
  limit: number;
}

export type Parsed = { help: true } | { help: false; args: CliArgs };

export const USAGE = `Usage: npm run cli -- <command> [options]
       node dist/cli/main.js <command> [options]

Commands:
  status                 queue counts, stream position and its age, endpoint state, last delivery
  failed [--limit N]     dead-lettered events, newest first (default 50)
  replay --all | <id>... send dead-lettered events again: same webhook-id, full retry budget
  purge                  delete the history of delivered (completed) events

Options:
  --json                 machine-readable output on stdout
  -h, --help             this help

Reads CONNECTOR_ID and REDIS_URL (environment, else config.yml or CONFIG_FILE), like
the ingester and the dispatcher.
Exit codes: 0 done; 1 failed (Redis unreachable, an id not found or not failed);
2 usage or configuration error.`;

/** A mistake on the command line: exit 2 with the usage. */
export class UsageError extends OwhError {
  readonly code = ErrorCode.cliUsage;
}

const DEFAULT_LIMIT = 50;

export function parseArgs(argv: readonly string[]): Parsed {
  if (argv.length === 0) throw new UsageError('missing command');
  if (argv.some((arg) => arg === '-h' || arg === '--help' || arg === 'help')) return { help: true };
  const [command, ...rest] = argv;
  if (!isCommand(command)) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  const args: CliArgs = { command, json: false, all: false, ids: [], limit: DEFAULT_LIMIT };
  for (let i = 0; i < rest.length; i += 1) {
    const arg = rest[i] as string;
    if (arg === '--json') args.json = true;
    else if (arg === '--all' && command === 'replay') args.all = true;
    else if (arg === '--limit' && command === 'failed') args.limit = positiveInteger(rest[++i]);
    else if (arg.startsWith('--limit=') && command === 'failed') args.limit = positiveInteger(arg.slice('--limit='.length));
    else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg} for ${command}`);
    else if (command === 'replay') args.ids.push(arg);
    else throw new UsageError(`${command} takes no argument (got ${JSON.stringify(arg)})`);
  }
  if (command === 'replay' && args.all === (args.ids.length > 0)) throw new UsageError('replay needs either --all or one or more event ids');
  return { help: false, args };
}

function isCommand(word: string | undefined): word is CommandName {
  return (COMMANDS as readonly string[]).includes(word ?? '');
}

function positiveInteger(text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--limit needs a positive integer (got ${JSON.stringify(text ?? '')})`);
  return Number(text);
}
