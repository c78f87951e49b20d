/**
 * Runs the built operator CLI (`dist/cli/main.js`) like an operator would, with only PATH
 * plus the given environment, in an empty directory (no stray config.yml).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scaled } from './wait.js';

const CLI = fileURLToPath(new URL('../../cli/main.js', import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCli(args: string[], env: Record<string, string>, timeoutMs = 15_000): Promise<CliRun> {
  const cwd = await mkdtemp(join(tmpdir(), 'opencti-webhook-cli-'));
  try {
    return await new Promise<CliRun>((resolve, reject) => {
      execFile(process.execPath, [CLI, ...args], { cwd, env: { PATH: process.env.PATH ?? '', ...env }, timeout: scaled(timeoutMs) }, (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') reject(new Error(`cli ${args.join(' ')} did not finish: ${error.message}\n${stderr}`));
        else resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
      });
    });
  } finally {
    await rm(cwd, { recursive: true, force: true });
  }
}

/** Runs with `--json`, asserts exit code `expectedCode` and returns the parsed output. */
export async function runCliJson<T>(args: string[], env: Record<string, string>, expectedCode = 0): Promise<T> {
  const run = await runCli([...args, '--json'], env);
  if (run.code !== expectedCode) throw new Error(`cli ${args.join(' ')} exited ${run.code}, expected ${expectedCode}\n${run.stderr}${run.stdout}`);
  return JSON.parse(run.stdout) as T;
}
