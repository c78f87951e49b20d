import { ConfigError } from '../config/load.js';
import { describeUnknownSetting, findUnknownSettings } from '../config/unknown-settings.js';
import { createLogger, type Logger, type LogLevel } from '../observability/logger.js';

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

/**
 * A process's configuration (see exitOnConfigError), and one
 * `config.unknown_setting` warning per setting nobody reads: at the
 * configured log level, or before the fatal line when the configuration is
 * bad (a misspelt variable is often why a required one is missing).
 */
export function loadProcessConfig<T extends { connector: { log_level: LogLevel } }>(service: string, load: () => T): T {
  const config = exitOnConfigError(service, () => {
    try {
      return load();
    } catch (error) {
      warnUnknownSettings(createLogger(service));
      throw error;
    }
  });
  warnUnknownSettings(createLogger(service, config.connector.log_level));
  return config;
}

function warnUnknownSettings(logger: Logger): void {
  for (const setting of findUnknownSettings()) {
    logger.warn({ name: setting.name, source: setting.source, suggestion: setting.suggestion, hint: describeUnknownSetting(setting) }, 'config.unknown_setting');
  }
}
