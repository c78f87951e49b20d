import { JsonataPool } from '../../shared/jsonata/pool.js';
import type { FormatName } from '../../shared/config/schema.js';
import type { TemplateRunner } from './format.js';
import { templateSource } from './templates.js';

/** Most time one template may take on one event (docs/templates-and-filters.md). */
const TEMPLATE_TIMEOUT_MS = 100;

interface TemplatedDestination {
  name: string;
  settings: { format: FormatName; template?: string | undefined };
}

/** The template of each destination that runs one, compiled once in one worker thread. */
export interface TemplateRunners {
  runnerFor(destination: string): TemplateRunner | undefined;
  close(): Promise<void>;
}

/**
 * One thread evaluates every destination's template, under a hard time
 * limit per event: a template that loops on one event fails that event,
 * never the dispatcher (shared/jsonata/pool.ts).
 */
export function startTemplateRunners(destinations: readonly TemplatedDestination[]): TemplateRunners {
  const expressions = Object.fromEntries(
    destinations.flatMap(({ name, settings }) => {
      const source = templateSource(settings.format, settings.template);
      return source === undefined ? [] : [[name, { source, output: 'json' as const }]];
    }),
  );
  const pool = Object.keys(expressions).length > 0 ? new JsonataPool(expressions, { timeoutMs: TEMPLATE_TIMEOUT_MS }) : undefined;
  return {
    runnerFor: (destination) =>
      pool && destination in expressions
        ? {
            render: async (json, bindings) => {
              const result = await pool.evaluate(destination, json, bindings);
              return result.ok ? { ok: true, value: String(result.value) } : result;
            },
          }
        : undefined,
    close: async () => {
      await pool?.close();
    },
  };
}
