import type { z } from 'zod';
import { DEFAULT_DESTINATION } from '../queue/contract.js';
import { asRecord, describeIssues, leafMeta, readLeaves, withReadProblems, type ConfigProblem, type Environment } from './leaves.js';

/**
 * The destinations: where events go, each with its own webhook settings.
 * `default` is the original connector's single webhook, read from WEBHOOK_*
 * (config.yml `webhook:`); it exists when WEBHOOK_URL is set or when no other
 * destination is listed. The others are listed in DESTINATIONS (config.yml:
 * the keys of `destinations:`) and read from DESTINATION_<NAME>_<KEY>
 * (config.yml `destinations.<name>.<key>`), the environment winning.
 */

/** Lower-case letters, digits and inner hyphens: a name becomes part of Redis keys, queue names and variable names. */
const DESTINATION_NAME = /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/;
const NAME_ACCEPTED = 'lower-case letters, digits and "-" (not first or last), at most 32 characters';

export interface Destination<T> {
  name: string;
  /** The prefix of its environment variables: WEBHOOK_ or DESTINATION_<NAME>_. */
  variablePrefix: string;
  settings: T;
}

/** The schema of one destination's settings, built for its variable prefix (its cross-field messages name the destination's variables). */
export type DestinationSchemaFor<D extends z.ZodType> = (variablePrefix: string) => D;

/** What the variables of every named destination start with. */
export const DESTINATION_VARIABLE_PREFIX = 'DESTINATION_';

export function destinationVariablePrefix(name: string): string {
  return name === DEFAULT_DESTINATION ? 'WEBHOOK_' : `${DESTINATION_VARIABLE_PREFIX}${name.toUpperCase().replaceAll('-', '_')}_`;
}

function fileSection(name: string): string {
  return name === DEFAULT_DESTINATION ? 'webhook' : `destinations.${name}`;
}

/** The destinations' settings, validated; every problem of every destination is reported at once. */
export function readDestinations<D extends z.ZodType>(
  schemaFor: DestinationSchemaFor<D>,
  env: Environment,
  file: Record<string, unknown>,
): { destinations: Array<Destination<z.output<D>>>; problems: ConfigProblem[] } {
  const fileMap = asRecord(file.destinations);
  const { names, problems } = listedNames(env, file);
  const defaultUrl = readLeaves(['url'], {
    env,
    fromFile: asRecord(file.webhook),
    variable: () => 'WEBHOOK_URL',
    fileKey: () => 'webhook.url',
    meta: () => undefined,
  }).raw.url;
  if (defaultUrl !== undefined || names.length === 0) names.unshift(DEFAULT_DESTINATION);
  const schemas = new Map(names.map((name) => [name, schemaFor(destinationVariablePrefix(name))]));
  const keysOf = (name: string) => Object.keys((schemas.get(name) as unknown as z.ZodObject).shape);
  problems.push(...sharedVariables(names, keysOf));
  const destinations: Array<Destination<z.output<D>>> = [];
  for (const name of names) {
    const variablePrefix = destinationVariablePrefix(name);
    const schema = schemas.get(name)!;
    const keys = keysOf(name);
    const fromFile = name === DEFAULT_DESTINATION ? asRecord(file.webhook) : asRecord(fileMap[name]);
    const read = readLeaves(keys, {
      env,
      fromFile,
      variable: (key) => `${variablePrefix}${key.toUpperCase()}`,
      fileKey: (key) => `${fileSection(name)}.${key}`,
      meta: (key) => leafMeta(schema, key),
    });
    const { raw } = read;
    const result = schema.safeParse(raw);
    if (result.success && read.problems.length === 0) {
      destinations.push({ name, variablePrefix, settings: result.data });
      continue;
    }
    const invalid = result.success
      ? []
      : describeIssues(result.error.issues, (key) => ({
          variable: `${variablePrefix}${key.toUpperCase()}`,
          key: `${fileSection(name)}.${key}`,
          meta: leafMeta(schema, key),
          value: raw[key],
        }));
    problems.push(...withReadProblems(read.problems, invalid));
  }
  return { destinations, problems };
}

/** The variable listing the named destinations. */
export const DESTINATIONS_VARIABLE = 'DESTINATIONS';

/** The valid names listed, as the loader reads them. */
export function listedDestinationNames(env: Environment, file: Record<string, unknown>): string[] {
  return listedNames(env, file).names;
}

/** DESTINATIONS (comma- or space-separated), else the keys of config.yml's `destinations:`. */
function listedNames(env: Environment, file: Record<string, unknown>): { names: string[]; problems: ConfigProblem[] } {
  const fromEnv = env[DESTINATIONS_VARIABLE]?.trim();
  let given: string[];
  if (fromEnv) given = fromEnv.split(/[\s,]+/).filter(Boolean);
  else if (file.destinations === undefined || file.destinations === null) given = [];
  else if (typeof file.destinations !== 'object' || Array.isArray(file.destinations)) {
    return { names: [], problems: [{ variable: 'DESTINATIONS', key: 'destinations', message: 'must be a mapping from destination name to its settings' }] };
  } else given = Object.keys(file.destinations);
  const problems: string[] = [];
  const names: string[] = [];
  for (const name of given) {
    const shown = JSON.stringify(name.slice(0, 40));
    if (name === DEFAULT_DESTINATION) problems.push(`${shown} is the name of the WEBHOOK_* destination: set WEBHOOK_URL to use it`);
    else if (!DESTINATION_NAME.test(name)) problems.push(`${shown} is not a valid name (${NAME_ACCEPTED})`);
    else if (names.includes(name)) problems.push(`${shown} is listed twice`);
    else names.push(name);
  }
  if (problems.length === 0) return { names, problems: [] };
  return { names, problems: [{ variable: 'DESTINATIONS', key: 'destinations', message: `is not valid: ${problems.join('; ')}` }] };
}

/**
 * Names whose variables coincide: `x` reads DESTINATION_X_AUTH_TYPE as its
 * AUTH_TYPE while `x-auth` reads it as its TYPE. One value would configure
 * both, so such a pair is refused rather than guessed.
 */
function sharedVariables(names: readonly string[], keysOf: (name: string) => string[]): ConfigProblem[] {
  const readers = new Map<string, string>();
  const clashes: string[] = [];
  for (const name of names) {
    for (const key of keysOf(name)) {
      const variable = `${destinationVariablePrefix(name)}${key.toUpperCase()}`;
      const other = readers.get(variable);
      if (other === undefined) readers.set(variable, name);
      else clashes.push(`"${other}" and "${name}" would both read ${variable}`);
    }
  }
  if (clashes.length === 0) return [];
  return [{ variable: 'DESTINATIONS', key: 'destinations', message: `is not valid: ${clashes.join('; ')}: rename one of them` }];
}
