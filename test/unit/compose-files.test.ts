/**
 * docker-compose.yml with its overlays (docker-compose.secrets.yml,
 * docker-compose.opencti.yml) and the documented .env (.env.sample): image
 * names, secrets from files for every secret setting, OpenCTI's network,
 * Grafana without a default password, a board that cannot restart forever,
 * and Compose itself (Debian's docker-compose) accepting each combination
 * with .env.sample as `.env`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { envName } from '../../shared/config/load.js';
import { ConfigSchema } from '../../shared/config/schema.js';
import { repoFile } from '../helpers/docs.js';
import { loadBoardConfig, loadDispatcherConfig } from '../../dispatcher/config.js';
import { loadIngesterConfig } from '../../ingester/config.js';
import { configError, tempDir, variables } from './config-helpers.js';

interface ComposeService {
  image?: string;
  build?: { dockerfile?: string };
  environment?: Record<string, string>;
  secrets?: string[];
  networks?: string[];
  restart?: string;
}
interface ComposeFile {
  services: Record<string, ComposeService>;
  secrets?: Record<string, { file: string }>;
  networks?: Record<string, { external?: boolean; name?: string }>;
}

// Compiled, this file is <repo>/dist/test/unit/compose-files.test.js.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const COMPOSE_FILES = ['docker-compose.yml', 'docker-compose.secrets.yml', 'docker-compose.opencti.yml'];
const load = (path: string) => parseYaml(repoFile(path), { merge: true }) as ComposeFile;
const base = load('docker-compose.yml');
const secretsOverlay = load('docker-compose.secrets.yml');
const openctiOverlay = load('docker-compose.opencti.yml');

/** The variables of the schema whose values are secrets, from the fields' own metadata. */
const secretVariables = Object.entries(ConfigSchema.shape).flatMap(([section, sectionSchema]) =>
  Object.entries(sectionSchema.shape)
    .filter(([, leaf]) => ((leaf as z.ZodType).meta() as { secret?: boolean } | undefined)?.secret)
    .map(([key]) => envName(section, key)),
);
// A JSON object of header names and values: passed as a variable until the
// `_FILE` loader is known to take it (its values are never logged either way).
const NOT_FROM_FILES = new Set(['WEBHOOK_EXTRA_HEADERS']);

/** Every ${NAME...} in the YAML values of a file (comments excluded). */
function referencedVariables(value: unknown, found = new Set<string>()): Set<string> {
  if (typeof value === 'string') for (const [, name] of value.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)) found.add(name!);
  else if (Array.isArray(value)) for (const item of value) referencedVariables(item, found);
  else if (value && typeof value === 'object') for (const item of Object.values(value)) referencedVariables(item, found);
  return found;
}

describe('docker-compose.yml images', () => {
  const version = (JSON.parse(repoFile('package.json')) as { version: string }).version;

  it('names the built images opencti-webhook-ingester and -dispatcher under IMAGE_PREFIX, tagged with the release by default', () => {
    const tag = `\${IMAGE_TAG:-${version}}`;
    assert.equal(base.services.ingester?.image, `\${IMAGE_PREFIX:-}opencti-webhook-ingester:${tag}`);
    assert.equal(base.services.dispatcher?.image, `\${IMAGE_PREFIX:-}opencti-webhook-dispatcher:${tag}`);
    assert.equal(base.services.board?.image, base.services.dispatcher?.image, 'the board runs the dispatcher image');
    for (const name of ['ingester', 'dispatcher', 'board']) assert.ok(base.services[name]?.build?.dockerfile, `${name} lost its build: \`up --build\` needs it`);
  });
});

describe('docker-compose.yml services', () => {
  it("names its Redis webhook-redis, never `redis` (OpenCTI's own on a shared network), and points REDIS_URL at it", () => {
    assert.equal(base.services.redis, undefined);
    assert.ok(base.services['webhook-redis']);
    for (const name of ['ingester', 'dispatcher', 'board']) assert.equal(base.services[name]?.environment?.REDIS_URL, '${REDIS_URL:-redis://webhook-redis:6379}', name);
  });

  it('restarts the board a bounded number of times (a missing password would loop), the pipeline always', () => {
    assert.match(String(base.services.board?.restart), /^on-failure:[1-5]$/);
    for (const name of ['ingester', 'dispatcher', 'webhook-redis']) assert.equal(base.services[name]?.restart, 'unless-stopped', name);
  });

  it("gives Grafana no default admin password: Grafana reads it from a secret file", () => {
    const environment = base.services.grafana?.environment ?? {};
    assert.equal(environment.GF_SECURITY_ADMIN_PASSWORD, undefined);
    assert.equal(environment.GF_SECURITY_ADMIN_PASSWORD__FILE, '/run/secrets/grafana_admin_password');
    assert.deepEqual(base.services.grafana?.secrets, ['grafana_admin_password']);
    assert.equal(base.secrets?.grafana_admin_password?.file, './secrets/grafana_admin_password');
  });

  it('keeps ./secrets/ out of git', () => {
    assert.match(repoFile('secrets/.gitignore'), /^\*$/m);
    assert.match(repoFile('.gitignore'), /^\.env$/m);
  });
});

describe('docker-compose.secrets.yml', () => {
  it('passes every secret setting a service receives as <VAR>_FILE=/run/secrets/<name>, from ./secrets/<name>', () => {
    for (const [name, service] of Object.entries(base.services)) {
      const secrets = Object.keys(service.environment ?? {}).filter((variable) => secretVariables.includes(variable) && !NOT_FROM_FILES.has(variable));
      const overlay = secretsOverlay.services[name];
      if (secrets.length === 0) {
        assert.equal(overlay, undefined, `${name} reads no secret`);
        continue;
      }
      assert.ok(overlay, `${name} gets ${secrets.join(', ')} as variables only`);
      const expected = Object.fromEntries(secrets.map((variable) => [`${variable}_FILE`, `/run/secrets/${variable.toLowerCase()}`]));
      assert.deepEqual(overlay.environment, expected, name);
      assert.deepEqual([...(overlay.secrets ?? [])].sort(), secrets.map((variable) => variable.toLowerCase()).sort(), name);
      for (const secret of overlay.secrets ?? []) assert.equal(secretsOverlay.secrets?.[secret]?.file, `./secrets/${secret}`, secret);
    }
  });

  it('leaves the variables themselves to the base file, empty unless set (both set is an error)', () => {
    for (const variable of secretVariables) {
      for (const [name, service] of Object.entries(base.services)) {
        const value = service.environment?.[variable];
        if (value !== undefined) assert.equal(value, `\${${variable}:-}`, `${name}: ${variable}`);
      }
    }
  });
});

describe('docker-compose.opencti.yml', () => {
  it("puts only the ingester on OpenCTI's network, an external one named by OPENCTI_NETWORK", () => {
    assert.deepEqual(Object.keys(openctiOverlay.services), ['ingester']);
    assert.deepEqual(openctiOverlay.services.ingester?.networks, ['default', 'opencti']);
    assert.equal(openctiOverlay.networks?.opencti?.external, true);
    assert.match(String(openctiOverlay.networks?.opencti?.name), /^\$\{OPENCTI_NETWORK:\?/);
  });
});

describe('.env.sample', () => {
  const sample = repoFile('.env.sample');
  const documented = new Set([...sample.matchAll(/^#? ?([A-Z][A-Z0-9_]*)=/gm)].map(([, name]) => name!));

  it('documents every variable the compose files read', () => {
    const read = new Set(COMPOSE_FILES.flatMap((file) => [...referencedVariables(load(file))]));
    assert.deepEqual([...read].filter((name) => !documented.has(name)).sort(), []);
    assert.deepEqual([...documented].filter((name) => !read.has(name) && name !== 'COMPOSE_FILE').sort(), [], '.env.sample documents variables no compose file reads');
  });

  // Debian's docker-compose (1.29) parses and interpolates the files the way Compose v2 does; .ci/run installs it.
  const dockerCompose = ['/usr/bin/docker-compose', '/usr/local/bin/docker-compose'].find((path) => existsSync(path));
  const skip = !dockerCompose && !process.env.CI ? 'docker-compose not found (apt-get install docker-compose)' : false;
  const project = tempDir();
  after(() => project.cleanup());
  /** `docker-compose config` in a folder holding the compose files and .env.sample as `.env`, with nothing else in its environment. */
  const config = (files: string[], extra: Record<string, string> = {}) => {
    assert.ok(dockerCompose, "docker-compose is missing: .ci/run installs Debian's docker-compose package");
    for (const file of [...COMPOSE_FILES, '.env.sample']) copyFileSync(join(REPO_ROOT, file), join(project.dir, file === '.env.sample' ? '.env' : file));
    const args = [...files.flatMap((file) => ['-f', file]), '--profile', 'board', '--profile', 'monitoring', 'config'];
    return spawnSync(dockerCompose, args, { cwd: project.dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...extra }, encoding: 'utf8' });
  };

  it('is accepted by docker-compose config with the base file and each overlay', { skip }, () => {
    const combinations: Array<[string[], Record<string, string>]> = [
      [['docker-compose.yml'], {}],
      [['docker-compose.yml', 'docker-compose.secrets.yml'], {}],
      [['docker-compose.yml', 'docker-compose.opencti.yml'], { OPENCTI_NETWORK: 'docker_default' }],
      [['docker-compose.yml', 'docker-compose.secrets.yml', 'docker-compose.opencti.yml'], { OPENCTI_NETWORK: 'docker_default' }],
    ];
    for (const [files, extra] of combinations) {
      const result = config(files, extra);
      assert.equal(result.status, 0, `${files.join(' + ')}: ${result.stderr}`);
      const resolved = parseYaml(result.stdout) as ComposeFile;
      assert.equal(resolved.services.ingester?.image, `opencti-webhook-ingester:${(JSON.parse(repoFile('package.json')) as { version: string }).version}`);
      if (files.includes('docker-compose.opencti.yml')) assert.equal(resolved.networks?.opencti?.name, 'docker_default');
    }
  });

  it('makes docker-compose name OPENCTI_NETWORK when the OpenCTI overlay is used without it', { skip }, () => {
    const result = config(['docker-compose.yml', 'docker-compose.opencti.yml']);
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /set OPENCTI_NETWORK/);
  });

  it('passes .env.sample values on, and IMAGE_PREFIX and IMAGE_TAG name both images', { skip }, () => {
    const result = config(['docker-compose.yml'], { IMAGE_PREFIX: 'ghcr.io/acme/', IMAGE_TAG: '9.9.9', HTTPS_PROXY: '' });
    assert.equal(result.status, 0, result.stderr);
    const resolved = parseYaml(result.stdout) as ComposeFile;
    assert.equal(resolved.services.ingester?.image, 'ghcr.io/acme/opencti-webhook-ingester:9.9.9');
    assert.equal(resolved.services.board?.image, 'ghcr.io/acme/opencti-webhook-dispatcher:9.9.9');
    assert.equal(resolved.services.ingester?.environment?.WEBHOOK_URL, 'https://soar.example.com/webhook');
    assert.equal(resolved.services.dispatcher?.environment?.REDIS_URL, 'redis://webhook-redis:6379');
  });


  it('starts every process once its placeholders are replaced, and names them until then', { skip }, () => {
    const noConfigFile = project.write('empty.yml', '');
    const environments = (extra: Record<string, string> = {}) => {
      const result = config(['docker-compose.yml'], extra);
      assert.equal(result.status, 0, result.stderr);
      const { services } = parseYaml(result.stdout) as ComposeFile;
      return (name: string) => ({ env: services[name]?.environment ?? {}, file: noConfigFile });
    };
    const sample = environments();
    assert.deepEqual(variables(configError(() => loadIngesterConfig(sample('ingester')))), ['CONNECTOR_ID', 'CONNECTOR_LIVE_STREAM_ID', 'OPENCTI_TOKEN']);
    assert.deepEqual(variables(configError(() => loadBoardConfig(sample('board')))), ['BULL_BOARD_PASSWORD', 'BULL_BOARD_USERNAME', 'CONNECTOR_ID']);
    const filled = environments({
      OPENCTI_TOKEN: 'd2c7b0a4-opencti-api-token',
      CONNECTOR_ID: '1d3c1c52-0a1e-4c39-9e2c-5b6f7e3f9a10',
      CONNECTOR_LIVE_STREAM_ID: 'b1a2c3d4-live',
      BULL_BOARD_USERNAME: 'ops',
      BULL_BOARD_PASSWORD: 'a-long-random-password',
    });
    assert.equal(loadIngesterConfig(filled('ingester')).redis.url, 'redis://webhook-redis:6379');
    assert.equal(loadDispatcherConfig(filled('dispatcher')).destinations[0]?.settings.url, 'https://soar.example.com/webhook');
    assert.equal(loadBoardConfig(filled('board')).bull_board.username, 'ops');
  });
});
