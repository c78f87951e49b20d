/**
 * The images as the Dockerfiles describe them, without a Docker engine: every
 * stage on the newest Node.js major that `engines` supports, and a runtime
 * stage that ships production files only yet everything each entry point
 * loads. Oracle for the second: the import graph of the built entry points
 * (relative imports, `new URL(…, import.meta.url)` and createRequire reads in
 * dist/), walked from each process's CMD and the CLI, must stay inside the
 * runtime stage's copies, and each package it imports must be a production
 * dependency (the runtime stage installs with --omit=dev).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { repoFile } from '../helpers/docs.js';
import { NODE_FLAGS } from '../../shared/process/node-flags.js';

// Compiled, this file is <repo>/dist/test/unit/images.test.js.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const manifest = JSON.parse(repoFile('package.json')) as { engines: { node: string }; dependencies: Record<string, string> };

interface Stage {
  base: string;
  name: string;
  lines: string[];
}

/** The stages of a Dockerfile: continuation lines joined, comments dropped. */
function stages(dockerfile: string): Stage[] {
  const lines = repoFile(dockerfile).replace(/\\\n/g, ' ').split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
  const found: Stage[] = [];
  for (const line of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?$/i.exec(line);
    if (from) found.push({ base: from[1]!, name: from[2] ?? String(found.length), lines: [] });
    else found.at(-1)?.lines.push(line);
  }
  return found;
}

/** [source, destination] of each `COPY --from=build` of a stage, destinations relative to WORKDIR /app. */
function copiesFromBuild(stage: Stage): Array<[string, string]> {
  return stage.lines.flatMap((line) => {
    const copy = /^COPY\s+--from=build\s+(\S+)\s+(\S+)$/i.exec(line);
    return copy ? [[copy[1]!, copy[2]!.replace(/^\.\//, '')] as [string, string]] : [];
  });
}

/** Everything `entry` (a path under dist/) loads: files of the repository, and the packages it imports. */
function importGraph(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const pending = [join(REPO_ROOT, entry)];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (files.has(file)) continue;
    files.add(file);
    if (!file.endsWith('.js')) continue;
    const source = readFileSync(file, 'utf8');
    const specifiers = [
      ...source.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]/gm),
      ...source.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm),
      ...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
      ...source.matchAll(/new URL\(\s*['"]([^'"]+)['"]\s*,\s*import\.meta\.url\s*\)/g),
      ...source.matchAll(/createRequire\(import\.meta\.url\)\(\s*['"]([^'"]+)['"]\s*\)/g),
    ].map((match) => match[1]!);
    for (const specifier of specifiers) {
      if (specifier.startsWith('.')) {
        const target = resolve(dirname(file), specifier);
        assert.ok(existsSync(target), `${relative(REPO_ROOT, file)} loads ${specifier}, which does not exist`);
        // A folder read at run time (the built-in templates): each file in it ships.
        if (statSync(target).isDirectory()) files.add(`${target}/`);
        else pending.push(target);
      } else if (!specifier.startsWith('node:') && !builtinModules.includes(specifier)) {
        packages.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!);
      }
    }
  }
  return { files: new Set([...files].map((file) => relative(REPO_ROOT, file) + (file.endsWith('/') ? '/' : ''))), packages };
}

const ENGINE_MAJORS = [...manifest.engines.node.matchAll(/(\d+)\.\d+\.\d+/g)].map((match) => Number(match[1]));
const NEWEST_MAJOR = Math.max(...ENGINE_MAJORS);
const ENTRY_POINTS: Record<string, string[]> = {
  ingester: ['dist/ingester/main.js', 'dist/cli/main.js'],
  dispatcher: ['dist/dispatcher/main.js', 'dist/dispatcher/board/main.js', 'dist/cli/main.js'],
};

describe('images', () => {
  it('engines names the LTS lines the project supports: Node.js 22 (from 22.19, undici 8) and 24', () => {
    assert.deepEqual(ENGINE_MAJORS, [22, 24]);
    assert.equal(manifest.engines.node, '^22.19.0 || >=24.0.0');
  });

  for (const [kind, entryPoints] of Object.entries(ENTRY_POINTS)) {
    describe(`Dockerfile.${kind}`, () => {
      const all = stages(`Dockerfile.${kind}`);
      const runtime = all.at(-1)!;
      const shipped = [...copiesFromBuild(runtime).map(([, destination]) => destination), 'package.json', 'package-lock.json'];

      it(`builds every stage on Node.js ${NEWEST_MAJOR}, the newest line engines supports, in one Debian flavour`, () => {
        assert.ok(all.length >= 2, 'a build stage and a runtime stage');
        for (const { base } of all) assert.equal(base, `node:${NEWEST_MAJOR}-bookworm-slim`);
      });

      it('the runtime stage installs production dependencies only and copies package.json from the context', () => {
        assert.ok(runtime.lines.some((line) => /^COPY\s+package\.json\s+package-lock\.json\s+\.\/$/.test(line)));
        assert.ok(runtime.lines.some((line) => /^RUN\s+npm ci\s.*--omit=dev/.test(line)));
        assert.equal(runtime.lines.find((line) => /^COPY\s+(?!--from=build)/i.test(line) && !/package/.test(line)), undefined, 'nothing else comes from the build context');
      });

      it('the runtime stage copies no test, bench, demo or scripts code, and no whole dist/', () => {
        for (const [source, destination] of copiesFromBuild(runtime)) {
          assert.doesNotMatch(source, /^\/app\/dist\/?$|\/(test|bench|demo|scripts)(\/|$)/, source);
          assert.equal(source, `/app/${destination}`, 'each copy keeps its path, as the code finds files relative to itself');
        }
      });

      it('the runtime stage ships everything its entry points load, and they import production dependencies only', () => {
        for (const entry of entryPoints) {
          const { files, packages } = importGraph(entry);
          assert.ok(files.size > 10, `${entry}: the walk found its imports`);
          const missing = [...files].filter((file) => !shipped.some((path) => file === path || file.startsWith(`${path.replace(/\/$/, '')}/`)));
          assert.deepEqual(missing, [], `${entry} loads files the image does not have`);
          const notProduction = [...packages].filter((name) => !(name in manifest.dependencies));
          assert.deepEqual(notProduction, [], `${entry} imports packages that --omit=dev leaves out`);
        }
      });

      it(`runs dist/${kind}/main.js`, () => {
        assert.match(runtime.lines.filter((line) => line.startsWith('CMD')).at(-1) ?? '', new RegExp(`^CMD \\["node", ${NODE_FLAGS.map((flag) => `"${flag}", `).join('')}"dist/${kind}/main\\.js"\\]$`));
      });
    });
  }

  it('both images ship the same production files', () => {
    const copies = (kind: string) => copiesFromBuild(stages(`Dockerfile.${kind}`).at(-1)!).map(([source]) => source).sort();
    assert.deepEqual(copies('ingester'), copies('dispatcher'));
  });
});
