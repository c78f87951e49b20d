/**
 * The environment variables each process reads, computed from its own
 * configuration schema (the `default` destination's WEBHOOK_* among them): a deployment file that sets anything else sets
 * something no process reads (a typo, or a setting given to the wrong process).
 */
import type { z } from 'zod';
import { BoardConfigSchema, DispatcherConfigSchema } from '../../dispatcher/config.js';
import { IngesterConfigSchema } from '../../ingester/config.js';
import type { FieldMeta } from '../../shared/config/fields.js';
import { envName } from '../../shared/config/load.js';
import { DestinationRoutingFields, destinationSchema } from '../../shared/config/schema.js';
import { PROXY_VARIABLES } from '../../shared/net/proxy.js';

export type ProcessName = 'ingester' | 'dispatcher' | 'board';

type Leaves = Record<string, z.ZodType>;
type SectionedSchema = { shape: Record<string, { shape: Leaves }> };

export interface ProcessVariables {
  /** Every variable the process reads, secrets included. */
  names: ReadonlySet<string>;
  /** The secret ones (their values are never logged); each also accepts `<NAME>_FILE`. */
  secrets: ReadonlySet<string>;
}

const SCHEMAS: Record<ProcessName, { sections: SectionedSchema; destination: Leaves; proxy: boolean }> = {
  ingester: { sections: IngesterConfigSchema, destination: DestinationRoutingFields.shape, proxy: true },
  dispatcher: { sections: DispatcherConfigSchema, destination: destinationSchema('WEBHOOK_').shape, proxy: true },
  // The board reads only the destinations' names: DESTINATIONS and whether WEBHOOK_URL is set.
  board: { sections: BoardConfigSchema, destination: {}, proxy: false },
};

function isSecret(leaf: z.ZodType): boolean {
  return (leaf.meta() as FieldMeta | undefined)?.secret === true;
}

export function processVariables(process: ProcessName): ProcessVariables {
  const { sections, destination, proxy } = SCHEMAS[process];
  const names = new Set<string>(['CONFIG_FILE', 'DESTINATIONS', 'WEBHOOK_URL', ...(proxy ? PROXY_VARIABLES : [])]);
  const secrets = new Set<string>();
  const add = (name: string, leaf: z.ZodType) => {
    names.add(name);
    if (isSecret(leaf)) secrets.add(name);
  };
  for (const [section, { shape }] of Object.entries(sections.shape)) {
    for (const [key, leaf] of Object.entries(shape)) add(envName(section, key), leaf);
  }
  for (const [key, leaf] of Object.entries(destination)) add(`WEBHOOK_${key.toUpperCase()}`, leaf);
  return { names, secrets };
}

/** Whether the process reads `variable`: one of its settings, or a secret setting's `_FILE`. */
export function readsVariable(variables: ProcessVariables, variable: string): boolean {
  return variables.names.has(variable) || (variable.endsWith('_FILE') && variables.secrets.has(variable.slice(0, -'_FILE'.length)));
}
