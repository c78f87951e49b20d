import { JsonataPool } from '../../shared/jsonata/pool.js';
import type { IngesterDestination } from '../config.js';

/** Most time one FILTER evaluation may take on one event (docs/templates-and-filters.md). */
const FILTER_TIMEOUT_MS = 100;

/** The destinations' FILTER expressions, compiled once in a worker thread; none when no destination has one. */
export function startFilterExpressions(destinations: readonly IngesterDestination[]): JsonataPool | undefined {
  const expressions = Object.fromEntries(
    destinations.flatMap(({ name, settings }) => (settings.filter === undefined ? [] : [[name, { source: settings.filter, output: 'boolean' as const }]])),
  );
  return Object.keys(expressions).length === 0 ? undefined : new JsonataPool(expressions, { timeoutMs: FILTER_TIMEOUT_MS });
}
