import { format, inspect } from 'node:util';
import { createLogger, type Logger } from '../observability/logger.js';
import { RepeatThrottle } from '../observability/repeat-throttle.js';

export interface ProcessGuard {
  // A property, not a method: callers pass `guard.crash` around unbound, and it needs no `this`.
  /** Ends the process: one fatal line `event` with the error and `context`, then exit 1. */
  crash: (event: string, error: unknown, context?: Record<string, unknown>) => never;
}

/** Exit code of a crash: the orchestrator restarts the process. */
const CRASH_EXIT_CODE = 1;

type ConsoleMethod = 'error' | 'warn' | 'info' | 'log' | 'debug' | 'trace';
const CONSOLE_LEVELS: Record<ConsoleMethod, 'error' | 'warn' | 'info' | 'debug'> = {
  error: 'error',
  warn: 'warn',
  info: 'info',
  log: 'info',
  debug: 'debug',
  trace: 'debug',
};

/**
 * Installed first by every entry point, before the configuration is read.
 * Two promises to operators: every line the process writes is one JSON
 * object, and the process never runs on in an unknown state.
 * - An exception or a rejection nobody handled means some part of the
 *   process stopped half-way: one fatal line naming the error (type, code,
 *   message, stack), then exit 1 so the orchestrator starts a clean process.
 *   Nothing is lost: the stream position is committed only with its jobs,
 *   and a job whose dispatcher died is taken over.
 * - What libraries print themselves (console, Node's process warnings)
 *   becomes a JSON line; identical lines are written once a minute at most.
 * It logs through a logger of its own (it runs before the configuration
 * sets the log level); writes are synchronous, so the fatal line is out
 * before the exit.
 */
export function installProcessGuard(service: string): ProcessGuard {
  const logger = createLogger(service);
  let crashed = false;
  const crash = (event: string, error: unknown, context: Record<string, unknown> = {}): never => {
    try {
      // A second failure while the first is being reported is the same crash.
      if (!crashed) {
        crashed = true;
        logger.fatal({ ...context, pid: process.pid, ...errorFields(error) }, event);
      }
    } finally {
      process.exit(CRASH_EXIT_CODE);
    }
  };
  process.on('uncaughtException', (error) => crash('process.uncaught_exception', error));
  process.on('unhandledRejection', (reason) => crash('process.unhandled_rejection', reason));
  routeConsole(logger);
  routeWarnings(logger);
  return { crash };
}

/** `err`: an Error, which pino's serializer writes with its type, message, code, stack and cause; `thrown`: anything else thrown. */
function errorFields(error: unknown): Record<string, unknown> {
  if (error instanceof Error) return { err: error };
  return { thrown: { type: typeof error, value: inspect(error, { depth: 2, breakLength: Infinity }) } };
}

/** BullMQ and ioredis print some failures with console.error (an error event nobody listens to): log them instead. */
function routeConsole(logger: Logger): void {
  const throttle = new RepeatThrottle();
  for (const [method, level] of Object.entries(CONSOLE_LEVELS) as Array<[ConsoleMethod, (typeof CONSOLE_LEVELS)[ConsoleMethod]]>) {
    console[method] = (...args: unknown[]) => {
      const text = format(...args);
      const admitted = throttle.admit(`${method} ${text}`);
      if (admitted) logger[level]({ method: `console.${method}`, text, ...(admitted.repeated ? { repeated: admitted.repeated } : {}) }, 'library.output');
    };
  }
}

/** Node prints process warnings (deprecations, listener leaks) to stderr by default; the listener removed is that printer. */
function routeWarnings(logger: Logger): void {
  const throttle = new RepeatThrottle();
  process.removeAllListeners('warning');
  process.on('warning', (warning: Error & { code?: string }) => {
    if (throttle.admit(`${warning.name} ${warning.message}`)) logger.warn({ warning: { name: warning.name, code: warning.code, message: warning.message } }, 'process.warning');
  });
}
