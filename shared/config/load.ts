import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ErrorCode } from '../errors/codes.js';
import { OwhError } from '../errors/owh-error.js';
import { proxySettingsFrom, type ProxySettings } from '../net/proxy.js';
import { readDestinations, type Destination, type DestinationSchemaFor } from './destinations.js';
import { asRecord, describeIssues, leafMeta, readLeaves, withReadProblems, type ConfigProblem, type Environment, type LeafDescription } from './leaves.js';

/** A configuration made of sections of leaves, like config.yml. */
type SectionedSchema = z.ZodObject<Record<string, z.ZodObject>>;

export class ConfigError extends OwhError {
  readonly code = ErrorCode.config;
  constructor(readonly problems: ConfigProblem[]) {
    super(`invalid configuration: ${problems.map((p) => `${p.variable} (${p.key}) ${p.message}`).join('; ')}`);
  }
}

export type { Environment } from './leaves.js';

export interface ConfigSources {
  /** The environment; the process's own when absent. This module is the only reader of process.env. */
  env?: Environment;
  /** config.yml path; when absent, `CONFIG_FILE` from env, else ./config.yml if it exists. */
  file?: string;
}

/** The variable naming config.yml, read outside the schema. */
export const CONFIG_FILE_VARIABLE = 'CONFIG_FILE';
const DEFAULT_CONFIG_FILE = './config.yml';

export function envName(section: string, key: string): string {
  return `${section}_${key}`.toUpperCase();
}

/**
 * Reads every leaf of `schema` from the environment (winning) or config.yml,
 * validates, and returns the typed, frozen result. Throws one ConfigError that
 * lists every bad variable.
 */
export function loadConfig<S extends SectionedSchema>(schema: S, sources?: ConfigSources): Readonly<z.infer<S>>;
/** Also reads the destinations (see destinations.ts), each with the settings `destination` builds for its variable prefix. */
export function loadConfig<S extends SectionedSchema, D extends z.ZodType>(
  schema: S,
  sources: ConfigSources,
  destination: DestinationSchemaFor<D>,
): Readonly<z.infer<S> & { destinations: ReadonlyArray<Destination<z.output<D>>> }>;
export function loadConfig(schema: SectionedSchema, sources: ConfigSources = {}, destination?: DestinationSchemaFor<z.ZodType>): unknown {
  const env = sourceEnvironment(sources);
  const file = readConfigFile(env, sources.file);
  const raw: Record<string, Record<string, unknown>> = {};
  const given: Record<string, unknown> = {};
  const readProblems: ConfigProblem[] = [];
  for (const [section, sectionSchema] of Object.entries(schema.shape)) {
    const sectionRead = readLeaves(Object.keys(sectionSchema.shape), {
      env,
      fromFile: asRecord(file[section]),
      variable: (key) => envName(section, key),
      fileKey: (key) => `${section}.${key}`,
      meta: (key) => leafMeta(sectionSchema, key),
    });
    raw[section] = sectionRead.raw;
    readProblems.push(...sectionRead.problems);
    for (const [key, value] of Object.entries(raw[section])) given[`${section}.${key}`] = value;
  }
  const result = schema.safeParse(raw);
  const invalid = result.success ? [] : describeIssues(result.error.issues, (section, key) => (key === undefined ? undefined : sectionLeaf(schema, section, key, given)));
  const problems = withReadProblems(readProblems, invalid);
  const destinations = destination ? readDestinations(destination, env, file) : undefined;
  problems.push(...(destinations?.problems ?? []));
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(destinations ? { ...result.data, destinations: destinations.destinations } : result.data);
}

/** The environment of `sources`: its own, else the process's. */
export function sourceEnvironment(sources: ConfigSources): Environment {
  return sources.env ?? process.env;
}

/**
 * HTTP_PROXY, HTTPS_PROXY and NO_PROXY (either case) from the environment
 * (the process's own when absent). They stay outside the schema and
 * config.yml: they are the usual variables every HTTP client honours.
 */
export function loadProxySettings(env: Environment = process.env): ProxySettings {
  return proxySettingsFrom(env);
}

/** config.yml as a mapping: `file`, else CONFIG_FILE, else ./config.yml when it exists (else empty). */
export function readConfigFile(env: Environment, file: string | undefined): Record<string, unknown> {
  const explicit = file ?? env[CONFIG_FILE_VARIABLE];
  const path = explicit || DEFAULT_CONFIG_FILE;
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

function sectionLeaf(schema: SectionedSchema, section: string, key: string, given: Record<string, unknown>): LeafDescription {
  return {
    variable: envName(section, key),
    key: `${section}.${key}`,
    meta: schema.shape[section] ? leafMeta(schema.shape[section], key) : undefined,
    value: given[`${section}.${key}`],
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
