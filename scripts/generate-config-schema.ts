/**
 * `npm run generate:manifest`: writes __metadata__/connector_config_schema.json
 * from the configuration schema. Commit the result; a test fails when the
 * committed file no longer matches the schema.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connectorConfigJsonSchema } from '../shared/config/json-schema.js';
import { ConfigSchema } from '../shared/config/schema.js';

// Compiled, this file is <repo>/dist/scripts/generate-config-schema.js.
export const CONFIG_SCHEMA_PATH = fileURLToPath(new URL('../../__metadata__/connector_config_schema.json', import.meta.url));

export function renderConfigSchema(): string {
  return `${JSON.stringify(connectorConfigJsonSchema(ConfigSchema), null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(CONFIG_SCHEMA_PATH, renderConfigSchema());
  console.log(`wrote ${CONFIG_SCHEMA_PATH}`);
}
