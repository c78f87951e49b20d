/**
 * Runs the built ingester or dispatcher as the demo's child process, with exactly the demo's
 * settings (PATH plus `env`: nothing from the caller's environment, no ./config.yml, since
 * `cwd` is the demo's own temp dir), in a process group of its own (see child.ts). Its JSON
 * logs are not shown; the last lines are kept for when it stops on its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { exitOf, onProcessExit, stopChild, type ExitInfo } from './child.js';
import { NODE_FLAGS } from '../shared/process/node-flags.js';

export type ProductKind = 'ingester' | 'dispatcher';

const KEPT_LINES = 10;
const START_TIMEOUT_MS = 30_000;

export class ProductProcess {
  readonly exited: Promise<ExitInfo>;
  private readonly lastLines: string[] = [];
  /** Both output pipes are read to the end: {@link tail} is complete. */
  private drained: Promise<void> = Promise.resolve();

  private constructor(
    readonly kind: ProductKind,
    private readonly child: ChildProcess,
  ) {
    this.exited = exitOf(child);
    const forget = onProcessExit(() => child.kill('SIGKILL'));
    void this.exited.then(forget);
  }

  /** Spawns `kind` and resolves once it logs `<kind>.started`; rejects with its last lines if it exits or hangs first. */
  static async start(kind: ProductKind, env: Record<string, string>, cwd: string): Promise<ProductProcess> {
    // Compiled, this file is dist/demo/product-process.js, next to dist/<kind>/main.js.
    const script = fileURLToPath(new URL(`../${kind}/main.js`, import.meta.url));
    const child = spawn(process.execPath, [...NODE_FLAGS, script], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const product = new ProductProcess(kind, child);
    const started = new Promise<void>((resolve) => {
      const keep = (line: string, fromStdout: boolean): void => {
        product.lastLines.push(line);
        if (product.lastLines.length > KEPT_LINES) product.lastLines.shift();
        if (fromStdout && line.includes(`"msg":"${kind}.started"`)) resolve();
      };
      const out = createInterface({ input: child.stdout }).on('line', (line) => keep(line, true));
      const err = createInterface({ input: child.stderr }).on('line', (line) => keep(line, false));
      product.drained = Promise.all([once(out, 'close'), once(err, 'close')]).then(() => undefined);
    });
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(resolve, START_TIMEOUT_MS, 'timeout').unref());
    const outcome = await Promise.race([started.then(() => 'started' as const), product.exited, timeout]);
    if (outcome === 'started') return product;
    await product.stop();
    await product.drained;
    const why = outcome === 'timeout' ? `did not start within ${START_TIMEOUT_MS / 1000} s` : `exited (code ${outcome.code}, signal ${outcome.signal})`;
    throw new Error(`${kind} ${why}; its last lines:\n${product.tail()}`);
  }

  /** Its last output lines, for a failure message. */
  tail(): string {
    return this.lastLines.join('\n') || '(no output)';
  }

  /** SIGTERM (a graceful shutdown), SIGKILL after 10 s. */
  stop(): Promise<void> {
    return stopChild(this.child, this.exited, 'SIGTERM');
  }
}
