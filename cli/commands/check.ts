/**
 * `check`: the configuration of every process validated as each would at
 * start, then what they connect to tried once each, read-only: Redis, the
 * OpenCTI API and live stream, every destination's webhook. Nothing is
 * queued, sent, registered or moved. See docs/config-check.md.
 */
import { loadProxySettings, type ConfigSources } from '../../shared/config/load.js';
import { PROCESSES, type CliArgs, type ProcessName } from '../args.js';
import { table } from '../format.js';
import { checkConfigurations } from '../probes/configs.js';
import { probeOpencti } from '../probes/opencti.js';
import { probeRedis } from '../probes/redis.js';
import { RESULTS, type CheckRow } from '../probes/row.js';
import { probeWebhook } from '../probes/webhook.js';
import { redisTarget } from '../redis.js';

interface CheckReport {
  /** What `--json` prints: every row, in the order of the table. */
  json: CheckRow[];
  text: string;
  /** False when any row failed (exit 1). */
  ok: boolean;
}

const INVALID = 'not tried: the configuration it needs is invalid (see the config rows)';

export async function check(args: Pick<CliArgs, 'timeoutMs' | 'only'>, sources: ConfigSources): Promise<CheckReport> {
  const { timeoutMs } = args;
  const processes: readonly ProcessName[] = args.only ?? PROCESSES;
  const configs = checkConfigurations(sources, processes);
  const proxy = loadProxySettings(sources.env);
  const redis = configs.redis ? redisTarget(configs.redis) : 'REDIS_URL';
  const probes: Array<Promise<CheckRow[]>> = [
    configs.redis ? probeRedis(configs.redis, redis, timeoutMs).then((row) => [row]) : skipped([['redis', redis]]),
  ];
  if (processes.includes('ingester')) {
    probes.push(configs.ingester ? probeOpencti(configs.ingester, proxy, timeoutMs) : skipped([['opencti api', 'OPENCTI_URL'], ['live stream', 'CONNECTOR_LIVE_STREAM_ID']]));
  }
  if (processes.includes('dispatcher')) {
    probes.push(configs.dispatcher ? Promise.all(configs.dispatcher.destinations.map((destination) => probeWebhook(destination, proxy, timeoutMs))) : skipped([['webhook', 'every destination']]));
  }
  const rows = [...configs.rows, ...(await Promise.all(probes)).flat()];
  const counts = RESULTS.map((result) => `${rows.filter((row) => row.result === result).length} ${result}`).join(', ');
  const text = `${table(['CHECK', 'TARGET', 'RESULT', 'DETAIL'], rows.map(({ check: name, target, result, detail }) => [name, target, result, detail]))}\n\n${counts}`;
  return { json: rows, text, ok: rows.every(({ result }) => result !== 'fail') };
}

function skipped(targets: Array<[string, string]>): Promise<CheckRow[]> {
  return Promise.resolve(targets.map(([name, target]) => ({ check: name, target, result: 'skipped', detail: INVALID })));
}

