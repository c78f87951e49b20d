/**
 * `--version` and `-v` on every entry point, as built processes: one line,
 * `opencti-webhook <version of package.json>`, exit 0, with no configuration
 * at all (CONFIG_FILE names a file that does not exist, so any attempt to
 * read the configuration would fail the run). On an unsupported Node.js, every
 * entry point says so in one line and exits 1.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { SUPPORTED_NODE, unsupportedNode } from '../../shared/process/runtime.js';
import { scaled } from '../helpers/wait.js';

// Compiled, this file is <repo>/dist/test/e2e/version.test.js.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string; engines: { node: string } };
const ENTRY_POINTS = ['ingester/main.js', 'dispatcher/main.js', 'dispatcher/board/main.js', 'cli/main.js'];

function run(script: string, flag: string, node = process.execPath): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { PATH: process.env.PATH ?? '', CONFIG_FILE: join(tmpdir(), 'opencti-webhook-no-such-config.yml') };
  return new Promise((resolve, reject) => {
    execFile(node, [join(REPO_ROOT, 'dist', script), flag], { cwd: tmpdir(), env, timeout: scaled(15_000) }, (error, stdout, stderr) => {
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

/** A Node.js older than the supported lines, when this machine has one (Debian's node is 20). */
const olderNode = ['/usr/bin/node', '/usr/local/bin/node'].find((path) => {
  if (!existsSync(path)) return false;
  return unsupportedNode(execFileSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim()) !== undefined;
});

describe('unsupported Node.js', () => {
  it('accepts exactly the lines of package.json engines', () => {
    assert.equal(manifest.engines.node, `^${SUPPORTED_NODE[22].join('.')}.0 || >=${SUPPORTED_NODE[24].join('.')}.0`);
    for (const version of ['22.19.0', '22.23.5', '24.0.0', '24.22.3', '26.1.0']) assert.equal(unsupportedNode(version), undefined, version);
    for (const version of ['20.20.2', '22.18.0', '23.11.0', '18.0.0']) assert.match(unsupportedNode(version) ?? '', new RegExp(`needs Node\\.js 22\\.19 or later.*this is Node\\.js ${version.replaceAll('.', '\\.')}`), version);
  });

  for (const script of ENTRY_POINTS) {
    it(`${script} says so in one line and exits 1`, { skip: olderNode ? false : 'no Node.js older than 22.19 on this machine' }, async () => {
      const result = await run(script, '--version', olderNode);
      assert.equal(result.code, 1);
      assert.equal(result.stdout, '');
      assert.match(result.stderr, /^opencti-webhook needs Node\.js 22\.19 or later \(the 22 or 24 LTS line\); this is Node\.js \d+\.\d+\.\d+\. [^\n]*\n$/);
    });
  }
});
