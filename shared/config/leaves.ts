import type { z } from 'zod';
import { redactWebhookUrl } from '../observability/redact.js';
import type { FieldMeta } from './fields.js';
import type { ConfigProblem, Environment } from './problems.js';
import { nonEmpty, readSecretLeaf } from './secret-files.js';

/**
 * Reading leaves from the environment and config.yml, and wording what is
 * wrong with them: shared by the sections (load.ts) and the destinations
 * (destinations.ts), so both report problems the same way.
 */

export type { ConfigProblem, Environment } from './problems.js';

/** Where a group of leaves (a section, a destination) is read from, and how its keys are named. */
export interface LeafSources {
  env: Environment;
  /** The group's mapping in config.yml. */
  fromFile: Record<string, unknown>;
  /** The environment variable of a key, e.g. WEBHOOK_TOKEN. */
  variable: (key: string) => string;
  /** The full config.yml key of a key, e.g. webhook.token. */
  fileKey: (key: string) => string;
  /** The leaf of a key, whose metadata says whether it is a secret (secrets may also come from files). */
  meta: (key: string) => FieldMeta | undefined;
}

export interface ReadLeaves {
  raw: Record<string, unknown>;
  /** Secrets that could not be read (secret-files.ts). */
  problems: ConfigProblem[];
}

/** The keys' values, the environment's winning over the file's; a secret may also come from a file. */
export function readLeaves(keys: readonly string[], sources: LeafSources): ReadLeaves {
  const { env, fromFile, variable } = sources;
  const raw: Record<string, unknown> = {};
  const problems: ConfigProblem[] = [];
  for (const key of keys) {
    let value: unknown;
    if (sources.meta(key)?.secret) {
      const read = readSecretLeaf({ variable: variable(key), key: sources.fileKey(key), leafKey: key, env, fromFile });
      if (read.problem) problems.push(read.problem);
      value = read.value;
    } else {
      value = nonEmpty(env[variable(key)]) ?? fromFile[key];
    }
    if (value !== undefined && value !== null) raw[key] = value;
  }
  return { raw, problems };
}

/**
 * The read problems, then the validation problems of the other variables: a
 * secret whose file could not be read is unset, and "is required" would only
 * repeat why.
 */
export function withReadProblems(readProblems: readonly ConfigProblem[], invalid: readonly ConfigProblem[]): ConfigProblem[] {
  const unread = new Set(readProblems.map(({ key }) => key.replace(/_file$/, '')));
  return [...readProblems, ...invalid.filter(({ key }) => !unread.has(key))];
}

/** The metadata of `key`'s leaf in a schema of leaves. */
export function leafMeta(leaves: z.ZodType, key: string): FieldMeta | undefined {
  return ((leaves as unknown as z.ZodObject).shape[key] as z.ZodType | undefined)?.meta() as FieldMeta | undefined;
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

