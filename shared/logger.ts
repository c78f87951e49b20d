import { pino, type Logger, type DestinationStream } from 'pino';

export type LogLevel = 'debug' | 'info' | 'warn' | 'warning' | 'error';

/**
 * pino JSON logs, one object per line on stdout. Messages are dotted event
 * names (`stream.connected`), prose goes in `hint`; fields are fixed names
 * (`streamId`, `jobId`, `status`, `durationMs`). Secrets are never passed to a
 * logger; the redact list is a second line of defence. Writes are synchronous
 * (a few lines a second at most): every line is out before an exit, and
 * lines of several loggers of one process (the process guard's) never mix.
 */
export function createLogger(service: string, level: LogLevel = 'info', destination: DestinationStream = pino.destination({ dest: 1, sync: true })): Logger {
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
