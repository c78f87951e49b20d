import { z } from 'zod';
import { loadConfig, type ConfigSources } from '../shared/config/load.js';
import { ConnectorSection, RedisSection } from '../shared/config/schema.js';

/** The CLI needs only to find the connector's keys. */
export const CliConfigSchema = z.object({
  connector: ConnectorSection.pick({ id: true }),
  redis: RedisSection,
});

/**
 * The CLI's settings and the destinations' names, read like the services
 * read them (so `default` exists when WEBHOOK_URL is set or no other
 * destination is listed). No destination setting is read: the CLI runs
 * without the webhook credentials.
 */
export function loadCliConfig(sources: ConfigSources) {
  return loadConfig(CliConfigSchema, sources, () => z.object({}));
}
export type CliConfig = ReturnType<typeof loadCliConfig>;
