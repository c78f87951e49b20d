import type { z } from 'zod';
import { closestName } from './closest-name.js';
import { DESTINATION_VARIABLE_PREFIX, DESTINATIONS_VARIABLE, destinationVariablePrefix, listedDestinationNames } from './destinations.js';
import { asRecord, leafMeta, type Environment } from './leaves.js';
import { CONFIG_FILE_VARIABLE, ConfigError, envName, readConfigFile, sourceEnvironment, type ConfigSources } from './load.js';
import { ConfigSchema, destinationSchema } from './schema.js';
import { secretFileKey, secretFileVariable } from './secret-files.js';

/**
 * Settings nobody reads, most likely misspelt (`WEBHOOK_URLL`): environment
 * variables with a prefix of the product's sections, and config.yml sections
 * and keys. The known settings are every process's (the ingester does not
 * read WEBHOOK_SIGNING_SECRET, but the dispatcher does), derived from the
 * schema. Reported as warnings: an unknown setting changes nothing.
 */
export interface UnknownSetting {
  source: 'env' | 'config.yml';
  name: string;
  /** The closest known setting, when close enough to be a typo of it. */
  suggestion?: string;
}

/** Python-connector settings this product accepts without reading them (docs/migrating.md): not typos. */
const IGNORED_COMPATIBLE: ReadonlyArray<[section: string, key: string]> = [
  ['opencti', 'custom_headers'],
];

/**
 * Variables other programs put in a container's environment under our
 * prefixes: Kubernetes sets <SERVICE>_SERVICE_HOST, <SERVICE>_SERVICE_PORT[_<NAME>]
 * and <SERVICE>_PORT[_<port>_<PROTO>[_PROTO|_PORT|_ADDR]] for every Service
 * (a Service named `redis` or `opencti-…` makes REDIS_PORT, OPENCTI_…), Docker
 * links set <ALIAS>_PORT…, <ALIAS>_NAME and <ALIAS>_ENV_<VAR>, and the redis
 * image sets REDIS_VERSION and its download variables.
 */
const FOREIGN_NAMES = /^(?:[A-Z0-9_]+_SERVICE_(?:HOST|PORT(?:_[A-Z0-9_]+)?)|[A-Z0-9_]+_PORT_\d+_(?:TCP|UDP|SCTP)(?:_(?:PROTO|PORT|ADDR))?|[A-Z0-9_]+_ENV_[A-Z0-9_]+|REDIS_VERSION|REDIS_DOWNLOAD_(?:URL|SHA))$/;
/** <SERVICE>_PORT=tcp://10.0.0.1:6379 (Kubernetes, Docker links) and <ALIAS>_NAME=/web/alias (Docker links). */
const FOREIGN_VALUES: ReadonlyArray<[name: RegExp, value: RegExp]> = [
  [/_PORT$/, /^(?:tcp|udp|sctp):\/\//],
  [/_NAME$/, /^\/[^/]+\/[^/]+$/],
];

/** The unknown settings of `sources` (same meaning as for loadConfig), environment first. */
export function findUnknownSettings(sources: ConfigSources = {}): UnknownSetting[] {
  const env = sourceEnvironment(sources);
  let file: Record<string, unknown>;
  try {
    file = readConfigFile(env, sources.file);
  } catch (error) {
    // An unreadable config.yml is the loader's error to report; the environment is still checked.
    if (!(error instanceof ConfigError)) throw error;
    file = {};
  }
  const destinations = listedDestinationNames(env, file);
  return [...unknownVariables(env, destinations), ...unknownKeys(file, destinations)];
}

/** A group of leaves: a section, or a destination's settings. */
type Leaves = z.ZodType;

/** Each section's leaves; the webhook's are a destination's (WEBHOOK_CONSUMER_COUNT is the default destination's). */
function sections(): Array<[section: string, leaves: Leaves]> {
  return Object.entries(ConfigSchema.shape).map(([section, leaves]) => [section, section === 'webhook' ? destinationSchema('WEBHOOK_') : leaves]);
}

/** A group's keys, each secret one with its `_file` twin (secret-files.ts). */
function keysOf(leaves: Leaves): string[] {
  return Object.keys((leaves as unknown as z.ZodObject).shape).flatMap((key) => (leafMeta(leaves, key)?.secret ? [key, secretFileKey(key)] : [key]));
}

function unknownVariables(env: Environment, destinations: readonly string[]): UnknownSetting[] {
  const known = new Set<string>([CONFIG_FILE_VARIABLE, DESTINATIONS_VARIABLE, ...IGNORED_COMPATIBLE.map(([section, key]) => envName(section, key))]);
  const prefixes = [DESTINATION_VARIABLE_PREFIX];
  for (const [section, leaves] of sections()) {
    prefixes.push(envName(section, ''));
    for (const key of keysOf(leaves)) known.add(envName(section, key));
  }
  const destinationLeaves = destinationSchema('');
  for (const name of destinations) {
    for (const key of keysOf(destinationLeaves)) known.add(`${destinationVariablePrefix(name)}${key.toUpperCase()}`);
  }
  const unknown: UnknownSetting[] = [];
  for (const [name, value] of Object.entries(env)) {
    const upper = name.toUpperCase();
    if (value === undefined || known.has(name) || !prefixes.some((prefix) => upper.startsWith(prefix)) || isForeign(upper, value)) continue;
    unknown.push(withSuggestion({ source: 'env', name }, known));
  }
  // By code point: the same order in every locale.
  return unknown.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function isForeign(name: string, value: string): boolean {
  return FOREIGN_NAMES.test(name) || FOREIGN_VALUES.some(([pattern, shape]) => pattern.test(name) && shape.test(value));
}

function unknownKeys(file: Record<string, unknown>, destinations: readonly string[]): UnknownSetting[] {
  const known = new Map<string, Set<string>>(sections().map(([section, leaves]) => [section, new Set(keysOf(leaves))]));
  for (const [section, key] of IGNORED_COMPATIBLE) known.get(section)?.add(key);
  const everyKey = [...known].flatMap(([section, keys]) => [...keys].map((key) => `${section}.${key}`));
  const destinationKeys = new Set(keysOf(destinationSchema('')));
  const unknown: UnknownSetting[] = [];
  const check = (path: string, mapping: unknown, keys: ReadonlySet<string>, candidates: readonly string[]) => {
    for (const key of Object.keys(asRecord(mapping))) {
      if (!keys.has(key)) unknown.push(withSuggestion({ source: 'config.yml', name: `${path}.${key}` }, candidates));
    }
  };
  for (const [section, value] of Object.entries(file)) {
    const keys = known.get(section);
    if (keys) check(section, value, keys, everyKey);
    else if (section === 'destinations') {
      for (const [name, settings] of Object.entries(asRecord(value))) {
        // A destination DESTINATIONS does not list is not read at all.
        if (!destinations.includes(name)) unknown.push(withSuggestion({ source: 'config.yml', name: `destinations.${name}` }, destinations.map((listed) => `destinations.${listed}`)));
        else check(`destinations.${name}`, settings, destinationKeys, [...destinationKeys].map((key) => `destinations.${name}.${key}`));
      }
    } else unknown.push(withSuggestion({ source: 'config.yml', name: section }, [...known.keys(), 'destinations']));
  }
  return unknown;
}

function withSuggestion(setting: UnknownSetting, known: Iterable<string>): UnknownSetting {
  const suggestion = closestName(setting.name, known);
  return suggestion === undefined ? setting : { ...setting, suggestion };
}

/** One line for an operator: what is unknown and what was probably meant. */
export function describeUnknownSetting({ source, name, suggestion }: UnknownSetting): string {
  const what = `unknown ${source === 'env' ? 'variable' : 'config.yml key'} ${name}`;
  if (suggestion !== undefined) return `${what}; did you mean ${suggestion}?`;
  if (name.toUpperCase().endsWith(secretFileVariable(''))) return `${what}; only secret settings accept ${source === 'env' ? secretFileVariable('<VAR>') : secretFileKey('<key>')} (docs/configuration.md)`;
  if (source === 'env' && name.toUpperCase().startsWith(DESTINATION_VARIABLE_PREFIX)) {
    return `${what}; a destination's variables are ${DESTINATION_VARIABLE_PREFIX}<NAME>_<KEY> for a name listed in ${DESTINATIONS_VARIABLE} and a key of the WEBHOOK_* settings`;
  }
  if (/^destinations\.[^.]+$/.test(name)) return `${what}; this destination is not listed in ${DESTINATIONS_VARIABLE}`;
  return `${what}; it is ignored`;
}
