/**
 * Every relative link of README.md, CONTRIBUTING.md and docs/**\/*.md leads
 * somewhere: the file exists, and a `#anchor` names a heading of the target
 * (GitHub's slug rules). External http(s) and mailto links are not fetched:
 * the tests run without network, so only their syntax is left to the reader.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { githubSlug, markdownAnchors, markdownLinks } from '../helpers/markdown.js';

// Compiled, this file is <repo>/dist/test/unit/docs-links.test.js.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function markdownFilesUnder(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return markdownFilesUnder(path);
    return entry.name.endsWith('.md') ? [path] : [];
  });
}

function documents(): string[] {
  return [join(REPO_ROOT, 'README.md'), join(REPO_ROOT, 'CONTRIBUTING.md'), ...markdownFilesUnder(join(REPO_ROOT, 'docs'))];
}

/** The problems of one document's links, as `file:line target: why`. */
function brokenLinks(file: string): string[] {
  const problems: string[] = [];
  const name = relative(REPO_ROOT, file);
  for (const { target, line } of markdownLinks(readFileSync(file, 'utf8'))) {
    if (/^(?:https?:|mailto:)/i.test(target)) continue;
    const where = `${name}:${line} ${target}`;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('/')) {
      problems.push(`${where}: use a relative link (or http/https)`);
      continue;
    }
    const hashAt = target.indexOf('#');
    const path = decodeURIComponent(hashAt < 0 ? target : target.slice(0, hashAt));
    const anchor = hashAt < 0 ? undefined : decodeURIComponent(target.slice(hashAt + 1));
    const resolved = path === '' ? file : join(dirname(file), path);
    if (!existsSync(resolved)) {
      problems.push(`${where}: no such file`);
      continue;
    }
    if (anchor === undefined) continue;
    if (statSync(resolved).isDirectory() || !resolved.endsWith('.md')) {
      problems.push(`${where}: an anchor into something that is not a Markdown file`);
      continue;
    }
    if (!markdownAnchors(readFileSync(resolved, 'utf8')).has(anchor)) problems.push(`${where}: no heading with this anchor in ${relative(REPO_ROOT, resolved)}`);
  }
  return problems;
}

describe('links in the documentation', () => {
  it('reads headings as GitHub anchors them', () => {
    assert.equal(githubSlug('Packs: several events per job'), 'packs-several-events-per-job');
    assert.equal(githubSlug('`WEBHOOK_URL` and `config.yml`'), 'webhook_url-and-configyml');
    assert.equal(githubSlug('TLS, proxies, reverse proxies'), 'tls-proxies-reverse-proxies');
    assert.equal(githubSlug('Failure handling: whose fault is a failed attempt?'), 'failure-handling-whose-fault-is-a-failed-attempt');
    assert.equal(githubSlug('[Board](board.md) – what it does'), 'board--what-it-does');
    assert.deepEqual([...markdownAnchors('# A\n## A\n```\n# not a heading\n```\n## A')], ['a', 'a-1', 'a-2']);
  });

  it('finds links outside code only', () => {
    const text = 'See [a](a.md#x) and ![b](b.png).\n`[c](c.md)`\n```\n[d](d.md)\n```\n[e]: e.md';
    assert.deepEqual(markdownLinks(text).map((link) => link.target), ['a.md#x', 'b.png', 'e.md']);
  });

  it('has the documents it checks', () => {
    const files = documents().map((file) => relative(REPO_ROOT, file));
    for (const expected of ['README.md', 'CONTRIBUTING.md', 'docs/architecture.md', 'docs/configuration.md']) {
      assert.ok(files.includes(expected), `${expected} is missing`);
    }
  });

  it('every relative link resolves to an existing file, and every #anchor to a heading there', () => {
    const problems = documents().flatMap(brokenLinks);
    assert.deepEqual(problems, []);
  });
});
