import { z } from 'zod';
import { ConfigError, loadConfig, type ConfigSources } from '../../shared/config/load.js';
import type { ConfigProblem } from '../../shared/config/leaves.js';
import { BoardOnlySection, BullBoardSection, RedisSection } from '../../shared/config/schema.js';
import type { RedisSettings } from '../../shared/config/redis-fields.js';
import { findUnknownSettings } from '../../shared/config/unknown-settings.js';
import { redactUrl } from '../../shared/observability/redact.js';
import { loadBoardConfig, loadDispatcherConfig, type DispatcherConfig } from '../../dispatcher/config.js';
import { loadIngesterConfig, type IngesterConfig } from '../../ingester/config.js';
import { platformTls } from '../../ingester/platform/http.js';
import type { ProcessName } from '../args.js';
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

  const rows: CheckRow[] = [];
  const notAsked = (process: ProcessName): CheckRow => ({ check: 'config', target: process, result: 'skipped', detail: `not asked for (--only ${processes.join(',')})` });
  if (ingester === undefined) rows.push(notAsked('ingester'));
  else if ('config' in ingester) rows.push(ok('ingester', describeIngester(ingester.config)));
  if (dispatcher === undefined) rows.push(notAsked('dispatcher'));
  else if ('config' in dispatcher) rows.push(ok('dispatcher', describeDispatcher(dispatcher.config)));
  if (!wanted('board')) {
    rows.push(notAsked('board'));
  } else if (board === undefined) {
    const served = dispatcher && 'config' in dispatcher && dispatcher.config.bull_board.enable ? '; the board the dispatcher serves (BULL_BOARD_ENABLE) is checked with the dispatcher' : '';
    rows.push({ check: 'config', target: 'board', result: 'skipped', detail: `no board-only process: BULL_BOARD_USERNAME and BULL_BOARD_PASSWORD are unset${served}` });
  } else if ('config' in board) {
    const { bull_board: settings } = board.config;
    rows.push(ok('board', `listens on ${settings.addr}:${settings.port}${settings.base_path}${settings.username ? ' with basic auth' : ''}`));
  }
  rows.push(...problemRows({ ...(ingester ? { ingester } : {}), ...(dispatcher ? { dispatcher } : {}), ...(board ? { board } : {}) }));
  for (const { source, name, suggestion } of findUnknownSettings(sources)) {
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

function ok(target: string, detail: string): CheckRow {
  return { check: 'config', target, result: 'ok', detail };
}

/** One row per distinct problem, its target the processes that would refuse to start over it. */
function problemRows(loaded: Record<string, Loaded<unknown>>): CheckRow[] {
  const byProblem = new Map<string, { processes: string[]; problem: ConfigProblem }>();
  for (const [process, result] of Object.entries(loaded)) {
    if (!('problems' in result)) continue;
    for (const problem of result.problems) {
      const key = `${problem.variable}\n${problem.message}`;
      const entry = byProblem.get(key) ?? { processes: [], problem };
      entry.processes.push(process);
      byProblem.set(key, entry);
    }
  }
  return [...byProblem.values()].map(({ processes, problem }) => ({
    check: 'config',
    target: processes.join(', '),
    result: 'fail',
    detail: `${problem.variable} (${problem.key}) ${problem.message}`,
  }));
}

function describeIngester({ opencti, connector, destinations }: IngesterConfig): string {
  return `OpenCTI ${redactUrl(opencti.url)}, stream ${connector.live_stream_id}, destinations ${destinations.map(({ name }) => name).join(', ')}`;
}

function describeDispatcher({ destinations, dispatcher, bull_board: board }: DispatcherConfig): string {
  const served = dispatcher.destinations ? `; DISPATCHER_DESTINATIONS: this dispatcher serves ${dispatcher.destinations.join(', ')}` : '';
  return `destinations ${destinations.map(({ name, settings }) => `${name} (${settings.format})`).join(', ')}${served}${board.enable ? `; board on ${board.addr}:${board.port}` : ''}`;
}
