import { z } from 'zod';
import { ConnectorSection, IngesterSection, MetricsSection, OpenctiSection, RedisSection, WebhookOrderingSection } from '../shared/config/schema.js';

/** The settings the ingester reads; nothing about the webhook. */
export const IngesterConfigSchema = z.object({
  opencti: OpenctiSection,
  connector: ConnectorSection.pick({
    id: true,
    name: true,
    scope: true,
    log_level: true,
    live_stream_id: true,
    live_stream_start_timestamp: true,
    live_stream_recover_iso_date: true,
    live_stream_listen_delete: true,
    live_stream_no_dependencies: true,
    live_stream_with_inferences: true,
    shutdown_timeout_ms: true,
  }),
  metrics: MetricsSection,
  redis: RedisSection,
  ingester: IngesterSection,
  webhook: WebhookOrderingSection,
});
export type IngesterConfig = z.infer<typeof IngesterConfigSchema>;
