/** Command-line parsing for the operator CLI; pure, so it is unit-tested without Redis. */
import { ErrorCode } from '../shared/errors/codes.js';
import { OwhError } from '../shared/errors/owh-error.js';
import { asksForVersion } from '../shared/process/version.js';

const COMMANDS = ['status', 'failed', 'replay', 'purge', 'check'] as const;
export type CommandName = (typeof COMMANDS)[number];
/** The processes `check` validates. */
export const PROCESSES = ['ingester', 'dispatcher', 'board'] as const;
export type ProcessName = (typeof PROCESSES)[number];

export interface CliArgs {
  command: CommandName;
  json: boolean;
  /** replay: every failed event. */
  all: boolean;
  /** replay: these job ids (= webhook-ids). */
  ids: string[];
  /** failed: how many to list, newest first. */
  limit: number;
  /** --destination: the one destination to act on (see destinations.ts for the defaults). */
  destination?: string;
  /** check: the deadline of each probe. */
  timeoutMs: number;
  /** check --only: the processes to check (where a container holds one process's settings); all without it. */
  only?: ProcessName[];
}

/** `show`: print the usage or the version instead of running a command. */
export type Parsed = { show: 'help' | 'version' } | { show?: undefined; args: CliArgs };

export const USAGE = `Usage: npm run cli -- <command> [options]
       node dist/cli/main.js <command> [options]

Commands:
  status                 stream position and its age; per destination: queue counts,
                         endpoint state, last delivery, ordering
  failed [--limit N]     dead-lettered events, newest first (default 50)
  replay --all | <id>... send dead-lettered events again: same webhook-id, full retry budget
  purge                  delete the history of delivered (completed) events
  check [--timeout-ms N] [--only ingester,dispatcher,board]
                         validate the configuration of every process (or those named),
                         then try Redis, the OpenCTI API and live stream, and each webhook
                         (HEAD): nothing is queued, sent or moved (timeout 5000 ms per probe)

Options:
  --destination <name>   act on one destination: status and failed cover every configured
                         one without it; replay needs it when more than one is configured;
                         purge always needs it. A destination removed from DESTINATIONS can
                         still be named while its queue remains in Redis.
  --json                 machine-readable output on stdout
  -h, --help             this help
  -v, --version          print the version (opencti-webhook <version>)

Reads CONNECTOR_ID, REDIS_URL and the destinations' names (DESTINATIONS, WEBHOOK_URL;
environment, else config.yml or CONFIG_FILE), like the ingester and the dispatcher.
check reads every setting of the ingester, the dispatcher and the board instead.
Exit codes: 0 done; 1 failed (Redis unreachable, an id not found or not failed,
a check failed); 2 usage or configuration error.`;

/** A mistake on the command line: exit 2 with the usage. */
export class UsageError extends OwhError {
  readonly code = ErrorCode.cliUsage;
}

const DEFAULT_LIMIT = 50;
const DEFAULT_TIMEOUT_MS = 5_000;
/** A probe's deadline: long enough for a slow TLS handshake, short enough for a person waiting. */
const MAX_TIMEOUT_MS = 120_000;

export function parseArgs(argv: readonly string[]): Parsed {
  if (argv.length === 0) throw new UsageError('missing command');
  if (argv.some((arg) => arg === '-h' || arg === '--help' || arg === 'help')) return { show: 'help' };
  if (asksForVersion(argv)) return { show: 'version' };
  const [command, ...rest] = argv;
  if (!isCommand(command)) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  const args: CliArgs = { command, json: false, all: false, ids: [], limit: DEFAULT_LIMIT, timeoutMs: DEFAULT_TIMEOUT_MS };
  for (let i = 0; i < rest.length; i += 1) {
    const arg = rest[i] as string;
    if (arg === '--json') args.json = true;
    else if (arg === '--all' && command === 'replay') args.all = true;
    else if (arg === '--limit' && command === 'failed') args.limit = positiveInteger(rest[++i]);
    else if (arg.startsWith('--limit=') && command === 'failed') args.limit = positiveInteger(arg.slice('--limit='.length));
    else if (arg === '--timeout-ms' && command === 'check') args.timeoutMs = timeout(rest[++i]);
    else if (arg.startsWith('--timeout-ms=') && command === 'check') args.timeoutMs = timeout(arg.slice('--timeout-ms='.length));
    else if (arg === '--only' && command === 'check') args.only = processNames(rest[++i]);
    else if (arg.startsWith('--only=') && command === 'check') args.only = processNames(arg.slice('--only='.length));
    else if ((arg === '--destination' || arg.startsWith('--destination=')) && command === 'check') {
      throw new UsageError('check takes no --destination: it checks every process and every destination');
    }
    else if (arg === '--destination' || arg.startsWith('--destination=')) {
      if (args.destination !== undefined) throw new UsageError('--destination is given twice: a command acts on one destination, or on every one without it');
      args.destination = destinationName(arg === '--destination' ? rest[++i] : arg.slice('--destination='.length));
    }
    else if (arg.startsWith('-')) throw new UsageError(`unknown option ${arg} for ${command}`);
    else if (command === 'replay') args.ids.push(arg);
    else throw new UsageError(`${command} takes no argument (got ${JSON.stringify(arg)})`);
  }
  if (command === 'replay' && args.all === (args.ids.length > 0)) throw new UsageError('replay needs either --all or one or more event ids');
  return { args };
}

function isCommand(word: string | undefined): word is CommandName {
  return (COMMANDS as readonly string[]).includes(word ?? '');
}

function destinationName(text: string | undefined): string {
  if (text === undefined || text === '' || text.startsWith('-')) throw new UsageError(`--destination needs a destination name (got ${JSON.stringify(text ?? '')})`);
  return text;
}

function processNames(text: string | undefined): ProcessName[] {
  const names = (text ?? '').split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(PROCESSES as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) throw new UsageError(`--only needs process names from ${PROCESSES.join(', ')}, comma-separated (got ${JSON.stringify(text ?? '')})`);
  return [...new Set(names as ProcessName[])];
}

function timeout(text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < 1 || Number(text) > MAX_TIMEOUT_MS) {
    throw new UsageError(`--timeout-ms needs a number of milliseconds from 1 to ${MAX_TIMEOUT_MS} (got ${JSON.stringify(text ?? '')})`);
  }
  return Number(text);
}

function positiveInteger(text: string | undefined): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) < 1) throw new UsageError(`--limit needs a positive integer (got ${JSON.stringify(text ?? '')})`);
  return Number(text);
}
