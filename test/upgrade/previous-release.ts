/**
 * A previous release of this repository, checked out from its own git history into a
 * temporary detached worktree and built there, so an upgrade test can run the old processes
 * next to the current ones.
 *
 * The old tree gets a symlink to today's node_modules: a release's dependencies are a subset
 * of the next one's (package.json only adds or bumps), and installing them again would need
 * the network. A dependency the product drops stays as a devDependency for as long as the
 * release tested here needs it (eventsource, which 0.1.0 reads the stream with).
 *
 * The worktree is registered in the repository's .git while it exists, so
 * {@link PreviousRelease.remove} must always run; it unlinks the symlink itself before git
 * deletes the directory, so nothing can follow it into the real node_modules.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, realpath, rm, symlink, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { scaled } from '../helpers/wait.js';

const run = promisify(execFile);

// Compiled, this file is <repo>/dist/test/upgrade/previous-release.js.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** tsc over the whole tree takes 30–60 s on a 2-core machine. */
const BUILD_TIMEOUT_MS = 300_000;
const GIT_TIMEOUT_MS = 60_000;

export interface PreviousRelease {
  /** Root of the temporary worktree. */
  readonly dir: string;
  /** Built entry point of one of the release's processes. */
  script(kind: 'ingester' | 'dispatcher'): string;
  /** Unregisters the worktree and deletes it. Idempotent; never throws. */
  remove(): Promise<void>;
}

/** Checks out `commit` into a temporary worktree and builds it with today's TypeScript compiler. */
export async function buildPreviousRelease(commit: string): Promise<PreviousRelease> {
  await requireCommit(commit);
  const dir = await mkdtemp(join(tmpdir(), 'opencti-webhook-release-'));
  const release = new Release(dir);
  try {
    // git accepts an existing directory as long as it is empty.
    await git(['worktree', 'add', '--detach', dir, commit]);
    release.registered = true;
    await symlink(await realpath(join(REPO_ROOT, 'node_modules')), join(dir, 'node_modules'), 'dir');
    await run(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(dir, 'tsconfig.json')], {
      cwd: dir,
      timeout: scaled(BUILD_TIMEOUT_MS),
      maxBuffer: 16 * 1024 * 1024,
    }).catch((err: unknown) => {
      const { stdout = '' } = err as { stdout?: string };
      throw new Error(`building release ${commit} in ${dir} failed:\n${stdout.slice(0, 4000)}`, { cause: err });
    });
  } catch (err) {
    await release.remove();
    throw err;
  }
  return release;
}

class Release implements PreviousRelease {
  registered = false;
  private removing: Promise<void> | undefined;

  constructor(readonly dir: string) {}

  script(kind: 'ingester' | 'dispatcher'): string {
    return join(this.dir, 'dist', kind, 'main.js');
  }

  remove(): Promise<void> {
    this.removing ??= (async () => {
      await unlink(join(this.dir, 'node_modules')).catch(() => undefined);
      if (this.registered) {
        await git(['worktree', 'remove', '--force', this.dir]).catch((err: unknown) => {
          console.error(`could not unregister the worktree ${this.dir}; run \`git worktree prune\`: ${(err as Error).message}`);
        });
      }
      await rm(this.dir, { recursive: true, force: true });
    })();
    return this.removing;
  }
}

/** A shallow clone lacks old commits: say so, rather than let the test pass without its subject. */
async function requireCommit(commit: string): Promise<void> {
  try {
    await git(['cat-file', '-e', `${commit}^{commit}`]);
  } catch (err) {
    throw new Error(
      `the previous release, commit ${commit}, is not in the git history of ${REPO_ROOT} ` +
        '(a shallow clone?): the upgrade test needs it; run `git fetch --unshallow` or clone with full history',
      { cause: err },
    );
  }
}

async function git(args: string[]): Promise<string> {
  const { stdout } = await run('git', ['-C', REPO_ROOT, ...args], { timeout: scaled(GIT_TIMEOUT_MS) });
  return stdout;
}
