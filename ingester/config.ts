import { z } from 'zod';
import { loadConfig, type ConfigSources } from '../shared/config/load.js';
import { ConnectorSection, DestinationRoutingFields, IngesterSection, MetricsSection, OpenctiSection, RedisSection } from '../shared/config/schema.js';

/** The settings the ingester reads; nothing about the webhook. */
export const IngesterConfigSchema = z.object({
  opencti: OpenctiSection,
  connector: ConnectorSection.pick({
    id: true,
    name: true,
    type: true,
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
});

/** The ingester's settings, and of each destination what decides which events it gets (filters, per-entity ordering). */
export function loadIngesterConfig(sources: ConfigSources = {}) {
  return loadConfig(IngesterConfigSchema, sources, () => DestinationRoutingFields);
}
export type IngesterConfig = ReturnType<typeof loadIngesterConfig>;
export type IngesterDestination = IngesterConfig['destinations'][number];
