import type { z } from 'zod';
import { redactWebhookUrl } from '../observability/redact.js';
import type { FieldMeta } from './fields.js';

/**
 * Reading leaves from the environment and config.yml, and wording what is
 * wrong with them: shared by the sections (load.ts) and the destinations
 * (destinations.ts), so both report problems the same way.
 */

export interface ConfigProblem {
  /** Environment variable name, e.g. WEBHOOK_URL. */
  variable: string;
  /** config.yml key, e.g. webhook.url. */
  key: string;
  message: string;
}

/** The keys' values, the environment's (through `fromEnv`) winning over the file's. */
export function readLeaves(keys: readonly string[], fromEnv: (key: string) => string | undefined, fromFile: Record<string, unknown>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const key of keys) {
    const envValue = fromEnv(key);
    // pycti treats an empty variable as unset; so do we.
    const value = envValue !== undefined && envValue !== '' ? envValue : fromFile[key];
    if (value !== undefined && value !== null) raw[key] = value;
  }
  return raw;
}

export function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** How one leaf is named in messages, what it accepts, and the value it was given. */
export interface LeafDescription {
  variable: string;
  key: string;
  meta: FieldMeta | undefined;
  value: unknown;
}

/** One problem per variable, worded from the issue or from the leaf's metadata; `leaf` names the leaf at an issue's path. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], leaf: (first: string, second: string | undefined) => LeafDescription | undefined): ConfigProblem[] {
  const problems = new Map<string, ConfigProblem>();
  for (const issue of issues) {
    const [first, second] = issue.path.map(String);
    if (!first) continue;
    const described = leaf(first, second);
    if (!described || problems.has(described.variable)) continue;
    const { variable, key, meta, value } = described;
    let message: string;
    // A custom issue words the problem itself, unless it comes from a bare check (zod then says "Invalid input").
    if (issue.code === 'custom' && issue.params?.bareCheck !== true) {
      message = issue.message;
    } else if (value === undefined) {
      message = `is required: ${meta?.accepted ?? 'a value'}`;
    } else {
      // A webhook URL may be the credential itself (Slack, Teams): only its redacted form is shown.
      const text = typeof value === 'string' ? (meta?.format === 'uri' ? redactWebhookUrl(value) : value) : JSON.stringify(value);
      const shown = meta?.secret ? '' : `, got ${JSON.stringify(text).slice(0, 80)}`;
      message = `must be ${meta?.accepted ?? 'valid'}${shown}`;
    }
    problems.set(variable, { variable, key, message });
  }
  return [...problems.values()];
}

