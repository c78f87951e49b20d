import { pino, type Logger, type DestinationStream } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'warning' | 'error';

/**
 * pino JSON logs. Messages are dotted event names (`stream.connected`); fields
 * are fixed names (`streamId`, `jobId`, `status`, `durationMs`). Secrets are
 * never passed to a logger; the redact list is a second line of defence.
 */
export function createLogger(service: string, level: LogLevel = 'info', destination?: DestinationStream): Logger {
  return pino(
    {
      level: level === 'warning' ? 'warn' : level,
      base: { service },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: ['token', '*.token', 'password', '*.password', 'headers.authorization', '*.headers.authorization'], censor: '[redacted]' },
    },
    destination,
  );
}

export type { Logger };
