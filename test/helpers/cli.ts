/**
 * Runs the operator CLI two ways: in-process through `runCli` (fast: no Node.js start per
 * command, so a test can run many) and as the built `dist/cli/main.js` process, like an
 * operator, for what only a process shows (exit codes, the output streams). Either way it
 * sees only the given environment and never a stray config.yml.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../cli/run.js';
import { scaled } from './wait.js';

const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

let scratch: string | undefined;
/** An empty directory holding an empty config.yml, removed when the test process exits. */
function scratchDir(): string {
  if (scratch === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'opencti-webhook-cli-'));
    writeFileSync(join(dir, 'config.yml'), '');
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    scratch = dir;
  }
  return scratch;
}

export async function runCliInProcess(args: string[], env: Record<string, string>): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    config: { env, file: join(scratchDir(), 'config.yml') },
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
  });
  return { code, stdout, stderr };
}

export function runCliProcess(args: string[], env: Record<string, string>, timeoutMs = 15_000): Promise<CliRun> {
  return new Promise<CliRun>((resolve, reject) => {
    const options = { cwd: scratchDir(), env: { PATH: process.env.PATH ?? '', ...env }, timeout: scaled(timeoutMs) };
    execFile(process.execPath, [CLI, ...args], options, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(new Error(`cli ${args.join(' ')} did not finish: ${error.message}\n${stderr}`));
      else resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

/** Runs in-process with `--json`, asserts exit code `expectedCode` and returns the parsed output. */
export async function runCliJson<T>(args: string[], env: Record<string, string>, expectedCode = 0): Promise<T> {
  const run = await runCliInProcess([...args, '--json'], env);
  if (run.code !== expectedCode) throw new Error(`cli ${args.join(' ')} exited ${run.code}, expected ${expectedCode}\n${run.stderr}${run.stdout}`);
  return JSON.parse(run.stdout) as T;
}
