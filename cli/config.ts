import { z } from 'zod';
import { ConnectorSection, RedisSection } from '../shared/config/schema.js';

/** The CLI needs only to find the connector's keys. */
export const CliConfigSchema = z.object({
  connector: ConnectorSection.pick({ id: true }),
  redis: RedisSection,
});
export type CliConfig = z.infer<typeof CliConfigSchema>;
