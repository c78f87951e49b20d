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

/** The board-only process (board-main.ts): the queue and the board, no webhook. */
export const BoardConfigSchema = z.object({
  connector: ConnectorSection.pick({ id: true, name: true, log_level: true }),
  metrics: MetricsSection,
  redis: RedisSection,
  bull_board: BoardOnlySection,
});
export type BoardConfig = z.infer<typeof BoardConfigSchema>;
