import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ErrorCode } from '../errors/codes.js';
import { OwhError } from '../errors/owh-error.js';
import { proxySettingsFrom, type ProxySettings } from '../net/proxy.js';
import type { FieldMeta } from './fields.js';

/** A configuration made of sections of leaves, like config.yml. */
type SectionedSchema = z.ZodObject<Record<string, z.ZodObject>>;

export interface ConfigProblem {
  /** Environment variable name, e.g. WEBHOOK_URL. */
  variable: string;
  /** config.yml key, e.g. webhook.url. */
  key: string;
  message: string;
}

export class ConfigError extends OwhError {
  readonly code = ErrorCode.config;
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration: ${problems.map((p) => `${p.variable} (${p.key}) ${p.message}`).join('; ')}`);
  }
}

/** Environment variables by name. */
export type Environment = Readonly<Record<string, string | undefined>>;

export interface ConfigSources {
  /** The environment; the process's own when absent. This module is the only reader of process.env. */
  env?: Environment;
  /** config.yml path; when absent, `CONFIG_FILE` from env, else ./config.yml if it exists. */
  file?: string;
}

export function envName(section: string, key: string): string {
  return `${section}_${key}`.toUpperCase();
}

/**
 * Reads every leaf of `schema` from the environment (winning) or config.yml,
 * validates, and returns the typed, frozen result. Throws one ConfigError that
 * lists every bad variable.
 */
export function loadConfig<S extends SectionedSchema>(schema: S, sources: ConfigSources = {}): Readonly<z.infer<S>> {
  const env = sources.env ?? process.env;
  const file = readConfigFile(env, sources.file);
  const raw: Record<string, Record<string, unknown>> = {};
  const given: Record<string, unknown> = {};
  for (const [section, sectionSchema] of Object.entries(schema.shape)) {
    const fromFile = asRecord(file[section]);
    raw[section] = {};
    for (const key of Object.keys(sectionSchema.shape)) {
      const fromEnv = env[envName(section, key)];
      // pycti treats an empty variable as unset; so do we.
      const value = fromEnv !== undefined && fromEnv !== '' ? fromEnv : fromFile[key];
      if (value !== undefined && value !== null) {
        raw[section][key] = value;
        given[`${section}.${key}`] = value;
      }
    }
  }
  const result = schema.safeParse(raw);
  if (!result.success) throw new ConfigError(describeIssues(schema, result.error.issues, given));
  return deepFreeze(result.data);
}

/**
 * HTTP_PROXY, HTTPS_PROXY and NO_PROXY (either case) from the environment
 * (the process's own when absent). They stay outside the schema and
 * config.yml: they are the usual variables every HTTP client honours.
 */
export function loadProxySettings(env: Environment = process.env): ProxySettings {
  return proxySettingsFrom(env);
}

function readConfigFile(env: Environment, file: string | undefined): Record<string, unknown> {
  const explicit = file ?? env.CONFIG_FILE;
  const path = explicit || './config.yml';
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (!explicit && (error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new ConfigError([{ variable: 'CONFIG_FILE', key: '-', message: `cannot read ${path}: ${(error as Error).message}` }]);
  }
  try {
    return asRecord(parseYaml(text));
  } catch (error) {
    // Only the position: the parser's message quotes the offending line, which may hold a token.
    const { code, linePos } = error as { code?: string; linePos?: Array<{ line: number; col: number }> };
    const where = linePos?.[0] ? ` at line ${linePos[0].line}, column ${linePos[0].col}` : '';
    throw new ConfigError([{ variable: 'CONFIG_FILE', key: '-', message: `${path} is not valid YAML${where}${code ? ` (${code})` : ''}` }]);
  }
}

function asRecord(value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

function describeIssues(schema: SectionedSchema, issues: readonly z.core.$ZodIssue[], given: Record<string, unknown>): ConfigProblem[] {
  const problems = new Map<string, ConfigProblem>();
  for (const issue of issues) {
    const [section, key] = issue.path.map(String);
    if (!section || !key) continue;
    const variable = envName(section, key);
    if (problems.has(variable)) continue;
    const meta = (schema.shape[section]?.shape[key] as z.ZodType | undefined)?.meta() as FieldMeta | undefined;
    const value = given[`${section}.${key}`];
    let message: string;
    // A custom issue words the problem itself, unless it comes from a bare check (zod then says "Invalid input").
    if (issue.code === 'custom' && issue.params?.bareCheck !== true) {
      message = issue.message;
    } else if (value === undefined) {
      message = `is required: ${meta?.accepted ?? 'a value'}`;
    } else {
      const shown = meta?.secret ? '' : `, got ${JSON.stringify(typeof value === 'string' ? value : JSON.stringify(value)).slice(0, 80)}`;
      message = `must be ${meta?.accepted ?? 'valid'}${shown}`;
    }
    problems.set(variable, { variable, key: `${section}.${key}`, message });
  }
  return [...problems.values()];
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
