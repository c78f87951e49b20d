import type { Logger } from '../observability/logger.js';

/** What a closer returns is awaited, so it may be a promise. */
type Closer = () => unknown;

/**
 * Owns process shutdown. Every resource registers its closer as soon as it is
 * opened; shutdown runs them in reverse order, each bounded by a timeout and
 * logged, and a failing step does not skip the rest. The first SIGTERM/SIGINT
 * shuts down gracefully (exit 0); a second one exits at once (exit 1).
 */
export class Lifecycle {
  readonly #closers: Array<{ name: string; close: Closer; timeoutMs: number }> = [];
  #shutdown: Promise<void> | undefined;

  constructor(private readonly logger: Logger) {}

  onShutdown(name: string, close: Closer, timeoutMs = 5_000): void {
    this.#closers.push({ name, close, timeoutMs });
  }

  handleSignals(): void {
    const onSignal = (signal: NodeJS.Signals) => {
      if (this.#shutdown) {
        this.logger.warn({ signal }, 'shutdown.forced');
        process.exit(1);
      }
      this.logger.info({ signal }, 'shutdown.started');
      void this.shutdown().then(() => process.exit(0));
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= this.#runClosers();
    return this.#shutdown;
  }

  async #runClosers(): Promise<void> {
    for (const { name, close, timeoutMs } of [...this.#closers].reverse()) {
      const started = Date.now();
      try {
        await withTimeout(Promise.resolve().then(close), timeoutMs);
        this.logger.debug({ step: name, durationMs: Date.now() - started }, 'shutdown.step_done');
      } catch (error) {
        this.logger.error({ step: name, err: error }, 'shutdown.step_failed');
      }
    }
    this.logger.info('shutdown.completed');
  }
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
