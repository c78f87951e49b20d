import { z } from 'zod';
import { ConnectorSection, DispatcherSection, MetricsSection, RedisSection, WebhookSection } from '../shared/config/schema.js';

/** The settings the dispatcher reads; nothing about OpenCTI. */
export const DispatcherConfigSchema = z.object({
  connector: ConnectorSection.pick({ id: true, name: true, log_level: true, consumer_count: true, shutdown_timeout_ms: true }),
  webhook: WebhookSection,
  metrics: MetricsSection,
  redis: RedisSection,
  dispatcher: DispatcherSection,
});
export type DispatcherConfig = z.infer<typeof DispatcherConfigSchema>;
