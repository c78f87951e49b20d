/**
 * The product's V8 flags (shared/process/node-flags.ts) reach every way the
 * long-running processes are started: a process started another way would
 * run with Node's machine-sized young generation (docs/performance.md#memory).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parse, parseAllDocuments } from 'yaml';
import { NODE_FLAGS } from '../../shared/process/node-flags.js';
import { repoFile } from '../helpers/docs.js';

const ENTRY_POINTS = { ingester: 'dist/ingester/main.js', dispatcher: 'dist/dispatcher/main.js', board: 'dist/dispatcher/board/main.js' } as const;

function command(entry: string): string[] {
  return ['node', ...NODE_FLAGS, entry];
}

describe('V8 flags of the long-running processes', () => {
  it('are set, and each is one V8 flag with a value', () => {
    assert.ok(NODE_FLAGS.length > 0);
    for (const flag of NODE_FLAGS) assert.match(flag, /^--[a-z-]+=\d+$/);
  });

  it('npm run ingester, dispatcher and board start their process with them', () => {
    const { scripts } = JSON.parse(repoFile('package.json')) as { scripts: Record<string, string> };
    for (const [name, entry] of Object.entries(ENTRY_POINTS)) assert.equal(scripts[name], command(entry).join(' '), `npm run ${name}`);
  });

  it('the images start their process with them', () => {
    for (const kind of ['ingester', 'dispatcher'] as const) {
      const cmd = repoFile(`Dockerfile.${kind}`)
        .split('\n')
        .filter((line) => line.startsWith('CMD'))
        .at(-1);
      assert.equal(cmd, `CMD ${JSON.stringify(command(ENTRY_POINTS[kind])).replaceAll(',', ', ')}`, `Dockerfile.${kind}`);
    }
  });

  it('the board of docker-compose.yml and of Kubernetes starts with them', () => {
    const compose = parse(repoFile('docker-compose.yml')) as { services: Record<string, { command?: string[] }> };
    assert.deepEqual(compose.services.board?.command, command(ENTRY_POINTS.board));
    type Workload = { kind: string; spec: { template: { spec: { containers: Array<{ command?: string[] }> } } } };
    const resources = parseAllDocuments(repoFile('deploy/kubernetes/board/board.yaml')).map((document) => document.toJS() as Workload);
    const board = resources.find((resource) => resource.kind === 'Deployment');
    assert.deepEqual(board?.spec.template.spec.containers[0]?.command, command(ENTRY_POINTS.board));
  });
});
