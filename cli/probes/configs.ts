import { z } from 'zod';
import { ConfigError, loadConfig, type ConfigSources } from '../../shared/config/load.js';
import type { ConfigProblem } from '../../shared/config/leaves.js';
import { BoardOnlySection, BullBoardSection, RedisSection } from '../../shared/config/schema.js';
import type { RedisSettings } from '../../shared/config/redis-fields.js';
import { findUnknownSettings } from '../../shared/config/unknown-settings.js';
import { redactUrl } from '../../shared/observability/redact.js';
import { loadBoardConfig, loadDispatcherConfig, type BoardConfig, type DispatcherConfig } from '../../dispatcher/config.js';
import { loadIngesterConfig, type IngesterConfig } from '../../ingester/config.js';
import { platformTls } from '../../ingester/platform/http.js';
import { PROCESSES, type ProcessName } from '../args.js';
import type { CheckRow } from './row.js';

/** What the probes need of the configurations that loaded; absent when invalid (their rows say why). */
export interface CheckedConfigs {
  rows: CheckRow[];
  ingester?: IngesterConfig;
  dispatcher?: DispatcherConfig;
  redis?: RedisSettings;
}

type Loaded<T> = { config: T } | { problems: ConfigProblem[] };

/** Loads as the process does at start: a ConfigError is its refusal to start. */
function load<T>(loader: () => T): Loaded<T> {
  try {
    return { config: loader() };
  } catch (error) {
    if (error instanceof ConfigError) return { problems: error.problems };
    throw error;
  }
}

/** Whether a board-only process is meant to run: BULL_BOARD_USERNAME or _PASSWORD set (it refuses to listen beyond loopback without them). */
const BoardPresence = z.object({
  bull_board: z.object({ enable: BullBoardSection.shape.enable, username: BoardOnlySection.shape.username, password: BoardOnlySection.shape.password }),
});

/**
 * Each process's configuration validated by that process's own loader, with
 * the checks it makes before connecting anywhere (the ingester reads its CA
 * bundles). A problem shared by several processes (REDIS_URL, CONNECTOR_ID)
 * is one row naming them all. Unknown variables and config.yml keys are
 * warnings: the processes start with them, ignoring them.
 */
export function checkConfigurations(sources: ConfigSources, processes: readonly ProcessName[]): CheckedConfigs {
  const wanted = (process: ProcessName) => processes.includes(process);
  const ingester = wanted('ingester')
    ? load(() => {
        const config = loadIngesterConfig(sources);
        platformTls(config.opencti);
        return config;
      })
    : undefined;
  const dispatcher = wanted('dispatcher') ? load(() => loadDispatcherConfig(sources)) : undefined;
  const presence = load(() => loadConfig(BoardPresence, sources));
  const boardExpected = !('config' in presence) || Boolean(presence.config.bull_board.username || presence.config.bull_board.password);
  const board = wanted('board') && boardExpected ? load(() => loadBoardConfig(sources)) : undefined;
  const redis = load(() => loadConfig(z.object({ redis: RedisSection }), sources));

  const loaded = { ingester, dispatcher, board };
  const problems = problemRows(loaded);
  const valid: Partial<Record<ProcessName, string>> = {
    ...(ingester && 'config' in ingester ? { ingester: describeIngester(ingester.config) } : {}),
    ...(dispatcher && 'config' in dispatcher ? { dispatcher: describeDispatcher(dispatcher.config) } : {}),
    ...(board && 'config' in board ? { board: describeBoard(board.config) } : {}),
  };
  const rows: CheckRow[] = [];
  for (const process of PROCESSES) {
    const result = loaded[process];
    if (!wanted(process)) {
      rows.push({ check: 'config', target: process, result: 'skipped', detail: `not asked for (--only ${processes.join(',')})` });
    } else if (result === undefined) {
      // Only the board may be wanted and absent: no credentials, no board-only process.
      const served = dispatcher && 'config' in dispatcher && dispatcher.config.bull_board.enable ? '; the board the dispatcher serves (BULL_BOARD_ENABLE) is checked with the dispatcher' : '';
      rows.push({ check: 'config', target: process, result: 'skipped', detail: `no board-only process: BULL_BOARD_USERNAME and BULL_BOARD_PASSWORD are unset${served}` });
    } else if ('problems' in result) {
      // A problem several processes share is listed once, with the first of them.
      rows.push(...problems.filter(({ processes: [first] }) => first === process).map(({ row }) => row));
    } else {
      rows.push({ check: 'config', target: process, result: 'ok', detail: valid[process] ?? '' });
    }
  }
  // An unreadable config.yml is already a config row of every process.
  const unknown = load(() => findUnknownSettings(sources));
  for (const { source, name, suggestion } of 'config' in unknown ? unknown.config : []) {
    const kind = source === 'env' ? 'variable' : 'config.yml key';
    rows.push({ check: 'config', target: source, result: 'warn', detail: `unknown ${kind} ${name}${suggestion ? `; did you mean ${suggestion}?` : ''} (ignored)` });
  }
  return {
    rows,
    ...(ingester && 'config' in ingester ? { ingester: ingester.config } : {}),
    ...(dispatcher && 'config' in dispatcher ? { dispatcher: dispatcher.config } : {}),
    ...('config' in redis ? { redis: redis.config.redis } : {}),
  };
}

/** One row per distinct problem, naming the processes that would refuse to start over it. */
function problemRows(loaded: Partial<Record<ProcessName, Loaded<unknown>>>): Array<{ processes: ProcessName[]; row: CheckRow }> {
  const byProblem = new Map<string, { processes: ProcessName[]; problem: ConfigProblem }>();
  for (const process of PROCESSES) {
    const result = loaded[process];
    if (result === undefined || !('problems' in result)) continue;
    for (const problem of result.problems) {
      const key = `${problem.variable}\n${problem.message}`;
      const entry = byProblem.get(key) ?? { processes: [], problem };
      entry.processes.push(process);
      byProblem.set(key, entry);
    }
  }
  return [...byProblem.values()].map(({ processes, problem }) => ({
    processes,
    row: { check: 'config', target: processes.join(', '), result: 'fail', detail: `${problem.variable} (${problem.key}) ${problem.message}` },
  }));
}

function describeIngester({ opencti, connector, destinations }: IngesterConfig): string {
  return `OpenCTI ${redactUrl(opencti.url)}, stream ${connector.live_stream_id}, destinations ${destinations.map(({ name }) => name).join(', ')}`;
}

function describeDispatcher({ destinations, dispatcher, bull_board: board }: DispatcherConfig): string {
  const served = dispatcher.destinations ? `; DISPATCHER_DESTINATIONS: this dispatcher serves ${dispatcher.destinations.join(', ')}` : '';
  return `destinations ${destinations.map(({ name, settings }) => `${name} (${settings.format})`).join(', ')}${served}${board.enable ? `; board on ${board.addr}:${board.port}` : ''}`;
}

function describeBoard({ bull_board: board }: BoardConfig): string {
  return `listens on ${board.addr}:${board.port}${board.base_path}${board.username ? ' with basic auth' : ''}`;
}
