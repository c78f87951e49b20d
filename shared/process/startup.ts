import type { z } from 'zod';
import { ConfigError, loadConfig } from '../config/load.js';
import { createLogger } from '../observability/logger.js';

/**
 * Loads the process configuration before anything connects anywhere. A bad
 * configuration is reported as one log line naming every bad variable and
 * what it accepts, and the process exits 1.
 */
export function loadConfigOrExit<S extends Parameters<typeof loadConfig>[0]>(schema: S, service: string): Readonly<z.infer<S>> {
  return exitOnConfigError(service, () => loadConfig(schema));
}

/** Runs a check of the configuration that needs more than the schema (a file to read); a ConfigError is reported the same way. */
export function exitOnConfigError<T>(service: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    createLogger(service).fatal({ code: error.code, problems: error.problems, hint: error.message }, 'config.invalid');
    process.exit(1);
  }
}
