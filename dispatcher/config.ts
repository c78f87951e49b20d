import { hostname } from 'node:os';
import { z } from 'zod';
import { ConfigError, loadConfig, type ConfigSources } from '../shared/config/load.js';
import type { ConfigProblem } from '../shared/config/leaves.js';
import { withMeta, type FieldMeta } from '../shared/config/fields.js';
import {
  BoardOnlySection,
  BullBoardSection,
  ConnectorSection,
  DispatcherSection,
  MetricsSection,
  OpenctiSection,
  RedisSection,
  destinationSchema,
  type FormatName,
} from '../shared/config/schema.js';

/** An optional copy of a required leaf, with its metadata (the messages and docs read it). */
function optional<T extends z.ZodType>(leaf: T) {
  return withMeta(leaf.optional(), leaf.meta() as unknown as FieldMeta);
}

/**
 * The settings the dispatcher reads. Of OpenCTI, only what some formats put
 * in the request: the platform URL (links, CloudEvents source) and the stream id.
 */
export const DispatcherConfigSchema = z.object({
  opencti: z.object({ url: optional(OpenctiSection.shape.url) }),
  connector: ConnectorSection.pick({ id: true, name: true, log_level: true, consumer_count: true, shutdown_timeout_ms: true }).extend({
    live_stream_id: optional(ConnectorSection.shape.live_stream_id),
  }),
  metrics: MetricsSection,
  redis: RedisSection,
  dispatcher: DispatcherSection,
  bull_board: BullBoardSection,
});
type DestinationSettings = z.output<ReturnType<typeof destinationSchema>>;
export type DispatcherConfig = ReturnType<typeof loadDispatcherConfig>;
export type DispatcherDestination = DispatcherConfig['destinations'][number];

/** Formats that put the platform URL in the request (links, CloudEvents source, Splunk host); CloudEvents and Splunk also name the stream. */
const NEEDS_PLATFORM_URL: ReadonlySet<FormatName> = new Set(['cloudevents', 'slack', 'teams', 'splunk-hec']);

/** The dispatcher's settings and its destinations; one ConfigError lists every problem. */
export function loadDispatcherConfig(sources: ConfigSources = {}) {
  const config = loadConfig(DispatcherConfigSchema, sources, destinationSchema);
  const problems = [...servedProblems(config.dispatcher.destinations, config.destinations), ...formatProblems(config)];
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

function servedProblems(served: readonly string[] | undefined, destinations: ReadonlyArray<{ name: string }>): ConfigProblem[] {
  const known = new Set(destinations.map(({ name }) => name));
  const unknown = (served ?? []).filter((name) => !known.has(name));
  if (unknown.length === 0) return [];
  return [
    {
      variable: 'DISPATCHER_DESTINATIONS',
      key: 'dispatcher.destinations',
      message: `names destinations that are not configured: ${unknown.join(', ')} (configured: ${[...known].join(', ')})`,
    },
  ];
}

function formatProblems(config: {
  opencti: { url?: string | undefined };
  connector: { live_stream_id?: string | undefined };
  destinations: ReadonlyArray<{ variablePrefix: string; settings: Pick<DestinationSettings, 'format'> }>;
}): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const users = (need: (format: FormatName) => boolean) => config.destinations.filter(({ settings }) => need(settings.format)).map(({ variablePrefix }) => `${variablePrefix}FORMAT`);
  const needUrl = users((format) => NEEDS_PLATFORM_URL.has(format));
  if (!config.opencti.url && needUrl.length > 0) {
    problems.push({ variable: 'OPENCTI_URL', key: 'opencti.url', message: `is required by ${needUrl.join(', ')} (links to the platform): the URL of the OpenCTI platform` });
  }
  const needStream = users((format) => format === 'cloudevents' || format === 'splunk-hec');
  if (!config.connector.live_stream_id && needStream.length > 0) {
    problems.push({ variable: 'CONNECTOR_LIVE_STREAM_ID', key: 'connector.live_stream_id', message: `is required by ${needStream.join(', ')} (the CloudEvents and Splunk source name the stream)` });
  }
  return problems;
}

/** The board-only process (board/main.ts): the queue and the board, no webhook. */
export const BoardConfigSchema = z.object({
  connector: ConnectorSection.pick({ id: true, name: true, log_level: true }),
  metrics: MetricsSection,
  redis: RedisSection,
  bull_board: BoardOnlySection,
});
export type BoardConfig = z.infer<typeof BoardConfigSchema>;

/**
 * The board-only process's settings and the names of the destinations, whose
 * queues it shows: it reads none of their settings, so it runs without the
 * webhook credentials. `default` is listed as the dispatchers see it (WEBHOOK_URL
 * set, or no other destination).
 */
export function loadBoardConfig(sources: ConfigSources = {}) {
  return loadConfig(BoardConfigSchema, sources, () => z.object({}));
}

/**
 * DISPATCHER_WORKER_NAME, by default the host name: stable across a restart
 * of the container or pod (so the restart can reclaim what it left in
 * flight, see worker/reclaim.ts), distinct between replicas. Characters a Redis
 * connection name cannot carry become "-".
 */
export function workerName(config: { dispatcher: { worker_name?: string | undefined } }, host: string = hostname()): string {
  return config.dispatcher.worker_name ?? (host.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 128) || 'dispatcher');
}
