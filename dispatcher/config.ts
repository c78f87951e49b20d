import { hostname } from 'node:os';
import { z } from 'zod';
import {
  BoardOnlySection,
  BullBoardSection,
  ConnectorSection,
  DispatcherSection,
  MetricsSection,
  RedisSection,
  WebhookSection,
} from '../shared/config/schema.js';

/** The settings the dispatcher reads; nothing about OpenCTI. */
export const DispatcherConfigSchema = z.object({
  connector: ConnectorSection.pick({ id: true, name: true, log_level: true, consumer_count: true, shutdown_timeout_ms: true }),
  webhook: WebhookSection,
  metrics: MetricsSection,
  redis: RedisSection,
  dispatcher: DispatcherSection,
  bull_board: BullBoardSection,
});
export type DispatcherConfig = z.infer<typeof DispatcherConfigSchema>;

/** The board-only process (board/main.ts): the queue and the board, no webhook. */
export const BoardConfigSchema = z.object({
  connector: ConnectorSection.pick({ id: true, name: true, log_level: true }),
  metrics: MetricsSection,
  redis: RedisSection,
  bull_board: BoardOnlySection,
});
export type BoardConfig = z.infer<typeof BoardConfigSchema>;

/**
 * DISPATCHER_WORKER_NAME, by default the host name: stable across a restart
 * of the container or pod (so the restart can reclaim what it left in
 * flight, see worker/reclaim.ts), distinct between replicas. Characters a Redis
 * connection name cannot carry become "-".
 */
export function workerName(config: Pick<DispatcherConfig, 'dispatcher'>, host: string = hostname()): string {
  return config.dispatcher.worker_name ?? (host.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 128) || 'dispatcher');
}
