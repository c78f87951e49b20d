import { ConfigError } from '../config/load.js';
import { createLogger } from '../observability/logger.js';

/**
 * Loads or checks the process configuration before anything connects
 * anywhere. A bad configuration is reported as one log line naming every bad
 * variable and what it accepts, and the process exits 1.
 */
export function exitOnConfigError<T>(service: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    createLogger(service).fatal({ code: error.code, problems: error.problems, hint: error.message }, 'config.invalid');
    process.exit(1);
  }
}
