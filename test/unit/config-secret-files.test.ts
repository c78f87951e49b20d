/**
 * Secrets from files (shared/config/secret-files.ts): every secret setting
 * <VAR> also accepts <VAR>_FILE (config.yml: <key>_file), read from real temp
 * files; which settings are secret comes from the schema's metadata.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import type { z } from 'zod';
import { loadBoardConfig, loadDispatcherConfig } from '../../dispatcher/config.js';
import { loadIngesterConfig } from '../../ingester/config.js';
import { envName } from '../../shared/config/load.js';
import type { FieldMeta } from '../../shared/config/fields.js';
import { ConfigSchema, destinationSchema } from '../../shared/config/schema.js';
import { configError, DISPATCHER_ENV, INGESTER_ENV, tempDir, variables } from './config-helpers.js';
import { dispatcherConfig } from '../helpers/config.js';

const files = tempDir();
const empty = files.write('empty.yml', '');
after(() => files.cleanup());

type Env = Record<string, string | undefined>;
const dispatcher = (env: Env, file = empty) => dispatcherConfig({ env: { ...DISPATCHER_ENV, ...env }, file });
const ingester = (env: Env, file = empty) => loadIngesterConfig({ env: { ...INGESTER_ENV, ...env }, file });
const SIGNING_1 = `whsec_${Buffer.alloc(32, 1).toString('base64')}`;
const SIGNING_2 = `whsec_${Buffer.alloc(32, 2).toString('base64')}`;
const BEARER = { WEBHOOK_AUTH_TYPE: 'BEARER' };

function secretVariables(leaves: z.ZodType, name: (key: string) => string): string[] {
  const shape = (leaves as unknown as z.ZodObject).shape;
  return Object.entries<z.ZodType>(shape)
    .filter(([, leaf]) => (leaf.meta() as FieldMeta | undefined)?.secret)
    .map(([key]) => name(key));
}

/** The message of the dispatcher's ConfigError for `env`, loaded by a child process running as the user nobody. */
function messageAsNobody(env: Env): string {
  chmodSync(files.dir, 0o755);
  const config = new URL('../../dispatcher/config.js', import.meta.url).href;
  const script = `const { loadDispatcherConfig } = await import(${JSON.stringify(config)});
try { loadDispatcherConfig({ env: ${JSON.stringify(env)}, file: ${JSON.stringify(empty)} }); } catch (error) { process.stdout.write(error.message); }`;
  const child = spawnSync(process.execPath, ['--input-type=module', '--eval', script], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 20_000 });
  assert.equal(child.status, 0, child.stderr);
  return child.stdout;
}

describe('secret settings', () => {
  it('are the leaves marked secret, and no <key>_file of one is a setting of its own', () => {
    const secrets = Object.entries(ConfigSchema.shape).flatMap(([section, leaves]) => secretVariables(leaves, (key) => envName(section, key)));
    assert.deepEqual(secrets, [
      'OPENCTI_TOKEN',
      'WEBHOOK_TOKEN',
      'WEBHOOK_PASSWORD',
      'WEBHOOK_EXTRA_HEADERS',
      'WEBHOOK_SIGNING_SECRET',
      'REDIS_PASSWORD',
      'REDIS_SENTINEL_PASSWORD',
      'BULL_BOARD_PASSWORD',
    ]);
    // REDIS_TLS_KEY_FILE is a path setting, not the _FILE of a REDIS_TLS_KEY: a secret's twin must never be a setting.
    for (const [section, leaves] of [...Object.entries(ConfigSchema.shape), ['destination', destinationSchema('DESTINATION_X_')] as const]) {
      const keys = Object.keys((leaves as unknown as z.ZodObject).shape);
      for (const variable of secretVariables(leaves, (key) => key)) assert.ok(!keys.includes(`${variable}_file`), `${section}.${variable}_file`);
    }
    assert.deepEqual(secretVariables(destinationSchema('DESTINATION_SOAR_'), (key) => `DESTINATION_SOAR_${key.toUpperCase()}`), [
      'DESTINATION_SOAR_TOKEN',
      'DESTINATION_SOAR_PASSWORD',
      'DESTINATION_SOAR_EXTRA_HEADERS',
      'DESTINATION_SOAR_SIGNING_SECRET',
    ]);
  });
});

describe('<VAR>_FILE', () => {
  it('reads the value from the file, less one trailing \\n or \\r\\n', () => {
    const lf = files.write('token-lf', 'file-token\n');
    const crlf = files.write('token-crlf', 'file-token\r\n');
    const bare = files.write('token-bare', 'file-token');
    for (const path of [lf, crlf, bare]) assert.equal(dispatcher({ ...BEARER, WEBHOOK_TOKEN_FILE: path }).webhook.token, 'file-token', path);
    const password = files.write('password', 'pass word with spaces\n');
    const basic = dispatcher({ WEBHOOK_AUTH_TYPE: 'BASIC', WEBHOOK_USERNAME: 'soar', WEBHOOK_PASSWORD_FILE: password });
    assert.equal(basic.webhook.password, 'pass word with spaces');
  });

  it('works for every secret of every process', () => {
    assert.equal(ingester({ OPENCTI_TOKEN: undefined, OPENCTI_TOKEN_FILE: files.write('opencti', 'opencti-from-file\n') }).opencti.token, 'opencti-from-file');
    const redis = files.write('redis', 'redis-pass\n');
    assert.equal(ingester({ REDIS_PASSWORD_FILE: redis }).redis.password, 'redis-pass');
    const sentinel = ingester({ REDIS_MODE: 'sentinel', REDIS_SENTINELS: 's1:26379', REDIS_SENTINEL_MASTER: 'm', REDIS_SENTINEL_PASSWORD_FILE: redis });
    assert.equal(sentinel.redis.sentinel_password, 'redis-pass');
    // One secret per line: the signing secrets are space-separated, and a line break is a space.
    const signing = files.write('signing', `${SIGNING_1}\n${SIGNING_2}\n`);
    assert.deepEqual(dispatcher({ WEBHOOK_SIGNING_SECRET_FILE: signing }).webhook.signing_secret, [SIGNING_1, SIGNING_2]);
    const headers = files.write('headers.json', '{"X-Tenant": "acme"}\n');
    assert.deepEqual(dispatcher({ WEBHOOK_EXTRA_HEADERS_FILE: headers }).webhook.extra_headers, { 'x-tenant': 'acme' });
    const board = loadBoardConfig({ env: { ...DISPATCHER_ENV, BULL_BOARD_USERNAME: 'ops', BULL_BOARD_PASSWORD_FILE: files.write('board', 'board-pass\n') }, file: empty });
    assert.equal(board.bull_board.password, 'board-pass');
  });

  it('works for the destinations’ secrets', () => {
    const token = files.write('soar-token', 'soar-token\n');
    const config = loadDispatcherConfig({
      env: { ...DISPATCHER_ENV, WEBHOOK_URL: undefined, DESTINATIONS: 'soar', DESTINATION_SOAR_URL: 'https://soar.example/x', DESTINATION_SOAR_AUTH_TYPE: 'BEARER', DESTINATION_SOAR_TOKEN_FILE: token },
      file: empty,
    });
    assert.equal(config.destinations[0]!.settings.token, 'soar-token');
  });

  it('validates the value read like the variable, without quoting it', () => {
    const bad = files.write('bad-token', 'top-secret\u0007value\n');
    const error = configError(() => dispatcher({ ...BEARER, WEBHOOK_TOKEN_FILE: bad }));
    assert.deepEqual(variables(error), ['WEBHOOK_TOKEN']);
    assert.match(error.message, /WEBHOOK_TOKEN \(webhook\.token\) must be a valid HTTP header value/);
    assert.doesNotMatch(error.message, /top-secret/);
  });

  it('refuses the variable and its _FILE both set, naming both', () => {
    const token = files.write('both', 'from-file\n');
    const error = configError(() => dispatcher({ ...BEARER, WEBHOOK_TOKEN: 'from-env', WEBHOOK_TOKEN_FILE: token }));
    assert.deepEqual(variables(error), ['WEBHOOK_TOKEN']);
    assert.match(error.message, /WEBHOOK_TOKEN \(webhook\.token\) is set and so is WEBHOOK_TOKEN_FILE: set one or the other/);
    assert.doesNotMatch(error.message, /from-env|from-file/);
    // An empty variable is unset (as with pycti): the file is used.
    assert.equal(dispatcher({ ...BEARER, WEBHOOK_TOKEN: '', WEBHOOK_TOKEN_FILE: token }).webhook.token, 'from-file');
  });

  it('names the _FILE variable, the path and the reason when the file cannot be read, and nothing else', () => {
    const missing = `${files.dir}/no-such-token`;
    const error = configError(() => ingester({ OPENCTI_TOKEN: undefined, OPENCTI_TOKEN_FILE: missing }));
    // Not also "OPENCTI_TOKEN is required": the file is why it is missing.
    assert.deepEqual(variables(error), ['OPENCTI_TOKEN_FILE']);
    assert.equal(error.problems[0]!.message, `names a file that cannot be read: ${JSON.stringify(missing)} (ENOENT)`);
    const directory = configError(() => dispatcher({ ...BEARER, WEBHOOK_TOKEN_FILE: files.dir }));
    assert.match(directory.message, /WEBHOOK_TOKEN_FILE \(webhook\.token_file\) names a file that cannot be read: ".*" \(EISDIR\)/);
    assert.deepEqual(variables(directory), ['WEBHOOK_TOKEN_FILE']);
  });

  it('reports a file it may not read as EACCES', () => {
    const locked = files.write('locked', 'locked-secret\n');
    chmodSync(locked, 0o000);
    const env = { ...DISPATCHER_ENV, ...BEARER, WEBHOOK_TOKEN_FILE: locked };
    // root reads any file: then the loader runs in a child process as nobody.
    const message = process.getuid?.() === 0 ? messageAsNobody(env) : configError(() => loadDispatcherConfig({ env, file: empty })).message;
    assert.match(message, /WEBHOOK_TOKEN_FILE \(webhook\.token_file\) names a file that cannot be read: ".*locked" \(EACCES\)/);
    assert.doesNotMatch(message, /locked-secret/);
  });

  it('treats an empty file as an empty variable: unset', () => {
    const blank = files.write('blank', '\n');
    const error = configError(() => ingester({ OPENCTI_TOKEN: undefined, OPENCTI_TOKEN_FILE: blank }));
    assert.match(error.message, /OPENCTI_TOKEN \(opencti\.token\) is required/);
    const yaml = files.write('token.yml', 'opencti:\n  token: yaml-token\n');
    assert.equal(ingester({ OPENCTI_TOKEN: undefined, OPENCTI_TOKEN_FILE: blank }, yaml).opencti.token, 'yaml-token');
  });

  it('is read only by a process that reads the setting', () => {
    // The ingester reads no webhook credential: a secret mounted only in the dispatcher's container is no concern of it.
    assert.equal(ingester({ WEBHOOK_TOKEN_FILE: `${files.dir}/not-mounted` }).connector.id, 'connector-1');
  });

  it('wins over config.yml, like any variable', () => {
    const yaml = files.write('env-wins.yml', 'webhook:\n  token: yaml-token\n');
    assert.equal(dispatcher({ ...BEARER, WEBHOOK_TOKEN_FILE: files.write('env-wins', 'env-file-token\n') }, yaml).webhook.token, 'env-file-token');
  });
});

describe('config.yml <key>_file', () => {
  it('reads a secret from the file a <key>_file key names', () => {
    const token = files.write('yaml-token', 'yaml-file-token\n');
    const yaml = files.write('token-file.yml', `webhook:\n  auth_type: BEARER\n  token_file: ${token}\nredis:\n  password_file: ${token}\n`);
    const config = dispatcher({}, yaml);
    assert.equal(config.webhook.token, 'yaml-file-token');
    assert.equal(config.redis.password, 'yaml-file-token');
  });

  it('reads destinations’ secrets too', () => {
    const token = files.write('yaml-soar', 'soar-yaml\n');
    const yaml = files.write('destination-file.yml', `destinations:\n  soar:\n    url: https://soar.example/x\n    auth_type: BEARER\n    token_file: ${token}\n`);
    const config = loadDispatcherConfig({ env: { ...DISPATCHER_ENV, WEBHOOK_URL: undefined }, file: yaml });
    assert.equal(config.destinations[0]!.settings.token, 'soar-yaml');
  });

  it('refuses a key and its _file both set, and a file that cannot be read', () => {
    const both = files.write('both.yml', `webhook:\n  auth_type: BEARER\n  token: inline\n  token_file: ${files.write('x', 'y')}\n`);
    assert.match(configError(() => dispatcher({}, both)).message, /WEBHOOK_TOKEN_FILE \(webhook\.token_file\) is set in config\.yml and so is webhook\.token: set one or the other/);
    const missing = files.write('missing.yml', `webhook:\n  auth_type: BEARER\n  token_file: ${files.dir}/nope\n`);
    const error = configError(() => dispatcher({}, missing));
    assert.deepEqual(variables(error), ['WEBHOOK_TOKEN_FILE']);
    assert.match(error.message, /\(ENOENT\)/);
    const notPath = files.write('not-path.yml', 'webhook:\n  auth_type: BEARER\n  token_file: [a]\n');
    assert.match(configError(() => dispatcher({}, notPath)).message, /WEBHOOK_TOKEN_FILE \(webhook\.token_file\) must be the path of a readable file/);
  });
});
