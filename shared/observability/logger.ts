import { pino, type Logger, type DestinationStream } from 'pino';
import { causeChain } from '../errors/causes.js';

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
      serializers: { err: serializeError },
      redact: { paths: ['token', '*.token', 'password', '*.password', 'headers.authorization', '*.headers.authorization'], censor: '[redacted]' },
    },
    destination,
  );
}

/** Longest message kept from an error; a Redis reply error can quote a whole script. */
const MAX_ERROR_MESSAGE = 1_000;

/**
 * `err` fields: type, code, message, stack and cause only. pino's default
 * serializer writes every enumerable property, and ioredis puts the failed
 * command with its arguments on its errors: a failed commit would log every
 * event body of the transaction, megabytes on one line. Causes nest along
 * the bounded cause chain, so a cyclic cause cannot recurse forever.
 */
function serializeError(error: unknown): unknown {
  return causeChain(error).reduceRight<unknown>((cause, link) => {
    if (!(link instanceof Error)) return link;
    const { code } = link as { code?: unknown };
    return {
      type: link.name,
      message: link.message.slice(0, MAX_ERROR_MESSAGE),
      ...(code === undefined ? {} : { code }),
      ...(link.stack ? { stack: link.stack } : {}),
      ...(cause === undefined ? {} : { cause }),
    };
  }, undefined);
}

export type { Logger };
