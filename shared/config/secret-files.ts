import { readFileSync } from 'node:fs';
import type { ConfigProblem, Environment } from './problems.js';

/**
 * Secrets from files (Docker and Kubernetes secrets): every secret setting
 * `<VAR>` also accepts `<VAR>_FILE` (config.yml: `<key>_file`), the path of a
 * file whose contents are the value. Which settings are secret comes from the
 * leaves' metadata (`secret: true`), so there is no list to keep up to date.
 * A file is read only by a process that reads the setting, so a container
 * needs only the secrets of its own process mounted.
 */

/** The suffix of a secret's file variable, and of its config.yml key in lower case. */
const SECRET_FILE_SUFFIX = '_FILE';

export function secretFileVariable(variable: string): string {
  return `${variable}${SECRET_FILE_SUFFIX}`;
}

export function secretFileKey(key: string): string {
  return `${key}${SECRET_FILE_SUFFIX.toLowerCase()}`;
}

/** Where a secret leaf is read: its variable and config.yml key, and both sources. */
export interface SecretLeaf {
  variable: string;
  /** Full config.yml key, e.g. webhook.token. */
  key: string;
  /** The leaf's key in its config.yml mapping, e.g. token. */
  leafKey: string;
  env: Environment;
  fromFile: Record<string, unknown>;
}

/** The value (undefined when unset), or the problem that stands for the leaf's own. */
export type SecretRead = { value: unknown; problem?: undefined } | { value?: undefined; problem: ConfigProblem };

/**
 * The secret's value: the variable, else the file its `_FILE` variable names,
 * else config.yml's key, else the file its `_file` key names. A source that
 * gives both a value and a file is refused rather than guessed; an empty file
 * counts as an empty variable (unset).
 */
export function readSecretLeaf(leaf: SecretLeaf): SecretRead {
  const { variable, key, leafKey, env, fromFile } = leaf;
  const fileVariable = secretFileVariable(variable);
  const direct = nonEmpty(env[variable]);
  const path = nonEmpty(env[fileVariable]);
  if (direct !== undefined && path !== undefined) {
    return { problem: { variable, key, message: `is set and so is ${fileVariable}: set one or the other` } };
  }
  if (direct !== undefined) return { value: direct };
  if (path !== undefined) {
    const read = readSecretFile(path, { variable: fileVariable, key: secretFileKey(key) });
    if (read.problem || read.value !== undefined) return read;
  }
  const inline = fromFile[leafKey] ?? undefined;
  const filed = fromFile[secretFileKey(leafKey)] ?? undefined;
  if (filed === undefined) return { value: inline };
  const where = { variable: fileVariable, key: secretFileKey(key) };
  if (inline !== undefined) return { problem: { ...where, message: `is set in config.yml and so is ${key}: set one or the other` } };
  if (typeof filed !== 'string' || filed.trim() === '') return { problem: { ...where, message: 'must be the path of a readable file' } };
  return readSecretFile(filed.trim(), where);
}

/** A variable's value, undefined when unset or empty: pycti treats an empty variable as unset; so do we. */
export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** The file's contents less one trailing line break (what `echo` and editors add); never quoted in a message. */
function readSecretFile(path: string, where: Pick<ConfigProblem, 'variable' | 'key'>): SecretRead {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    return { problem: { ...where, message: `names a file that cannot be read: ${JSON.stringify(path)} (${reason})` } };
  }
  const value = text.replace(/\r?\n$/, '');
  return { value: value === '' ? undefined : value };
}
