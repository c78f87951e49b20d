/**
 * `--version` and `-v` on every entry point, as built processes: one line,
 * `opencti-webhook <version of package.json>`, exit 0, with no configuration
 * at all (CONFIG_FILE names a file that does not exist, so any attempt to
 * read the configuration would fail the run).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { scaled } from '../helpers/wait.js';

// Compiled, this file is <repo>/dist/test/e2e/version.test.js.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
const ENTRY_POINTS = ['ingester/main.js', 'dispatcher/main.js', 'dispatcher/board/main.js', 'cli/main.js'];

function run(script: string, flag: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { PATH: process.env.PATH ?? '', CONFIG_FILE: join(tmpdir(), 'opencti-webhook-no-such-config.yml') };
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [join(REPO_ROOT, 'dist', script), flag], { cwd: tmpdir(), env, timeout: scaled(15_000) }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') reject(new Error(`${script} ${flag} did not finish: ${error.message}\n${stderr}`));
      else resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

describe('--version', () => {
  for (const script of ENTRY_POINTS) {
    it(`${script} prints the version and exits 0 before reading any configuration`, async () => {
      for (const flag of ['--version', '-v']) {
        const result = await run(script, flag);
        assert.deepEqual(result, { code: 0, stdout: `opencti-webhook ${manifest.version}\n`, stderr: '' }, `${script} ${flag}`);
      }
    });
  }
});
