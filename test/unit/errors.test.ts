/**
 * The product's error codes: one registry, documented in docs/errors.md,
 * written by the logger as `err.code`; and each classification that used to
 * read an error's message, now decided by a code.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { ReplyError } from 'ioredis';
import { z } from 'zod';
import { UsageError } from '../../cli/args.js';
import { BoardRefusedError } from '../../dispatcher/board/queue.js';
import { DeliveryError } from '../../dispatcher/delivery/deliver.js';
import { InternalError } from '../../dispatcher/delivery/internal-error.js';
import { resultCode } from '../../dispatcher/webhook/outcome.js';
import { ConnectorPresence } from '../../ingester/platform/connector-presence.js';
import { GraphqlError, PlatformHttpError, type OpenctiApi } from '../../ingester/platform/opencti-api.js';
import { StartupError } from '../../ingester/stream/check.js';
import { textField } from '../../shared/config/fields.js';
import { ConfigError, loadConfig } from '../../shared/config/load.js';
import { ErrorCode } from '../../shared/errors/codes.js';
import { OwhError } from '../../shared/errors/owh-error.js';
import { createLogger } from '../../shared/observability/logger.js';
import { describeRedisRejection } from '../../shared/redis/client.js';
import { redisReply } from '../../shared/redis/reply.js';
import { isRetryable } from '../../shared/redis/retryable.js';
import { repoFile } from '../helpers/docs.js';
import { waitFor } from '../helpers/wait.js';
import { tempDir } from './config-helpers.js';

const reply = (message: string): Error => new (ReplyError as new (message: string) => Error)(message);

describe('error codes', () => {
  it('are OWH_ codes, each used once, and docs/errors.md lists exactly them', () => {
    const codes: string[] = Object.values(ErrorCode);
    for (const code of codes) assert.match(code, /^OWH_[A-Z_]+$/);
    assert.equal(new Set(codes).size, codes.length, 'a code is registered twice');
    const documented = [...repoFile('docs/errors.md').matchAll(/^\| `(OWH_[A-Z_]+)` \|/gm)].map((row) => row[1]);
    assert.deepEqual([...documented].sort(), [...codes].sort());
  });

  it('are carried by the product errors, named after their class', () => {
    const cases: Array<[OwhError, string, ErrorCode]> = [
      [new ConfigError([{ variable: 'WEBHOOK_URL', key: 'webhook.url', message: 'is required' }]), 'ConfigError', 'OWH_CONFIG'],
      [new UsageError('missing command'), 'UsageError', 'OWH_CLI_USAGE'],
      [new BoardRefusedError('no'), 'BoardRefusedError', 'OWH_BOARD_REFUSED'],
      [new InternalError('progress', new Error('Connection is closed.')), 'InternalError', 'OWH_REDIS_UNAVAILABLE'],
      [new GraphqlError('FORBIDDEN_ACCESS', 'You are not allowed to do this.'), 'GraphqlError', 'OWH_PLATFORM_REJECTED'],
      [new PlatformHttpError(502), 'PlatformHttpError', 'OWH_PLATFORM_HTTP'],
      [new StartupError(ErrorCode.streamUnknown, 'no such stream'), 'StartupError', 'OWH_STREAM_UNKNOWN'],
      [new DeliveryError('webhook: HTTP 500'), 'DeliveryError', 'OWH_WEBHOOK_FAILED'],
    ];
    for (const [error, name, code] of cases) {
      assert.ok(error instanceof OwhError && error instanceof Error, name);
      assert.equal(error.name, name);
      assert.equal(error.code, code, name);
    }
  });

  it('are written by the logger as err.code, with the cause', () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString('utf8'));
        done();
      },
    });
    const logger = createLogger('test', 'info', stream);
    logger.warn({ err: new InternalError('rate_limit', reply('OOM command not allowed')) }, 'x.failed');
    logger.warn({ err: new UsageError('missing command') }, 'y.failed');
    const [internal, usage] = chunks.join('').trim().split('\n').map((line) => JSON.parse(line) as { err: Record<string, unknown> });
    assert.equal(internal!.err.type, 'InternalError');
    assert.equal(internal!.err.code, 'OWH_REDIS_REPLY_ERROR');
    assert.equal((internal!.err.cause as Record<string, unknown>).message, 'OOM command not allowed');
    assert.equal(usage!.err.type, 'UsageError');
    assert.equal(usage!.err.code, 'OWH_CLI_USAGE');
  });
});

describe('a Redis error reply', () => {
  it('is identified by its first word, and only when Redis sent it', () => {
    assert.deepEqual(redisReply(reply('NOSCRIPT No matching script. Please use EVAL.')), { code: 'NOSCRIPT', text: 'NOSCRIPT No matching script. Please use EVAL.', fromSentinel: false });
    assert.equal(redisReply(reply('OOM'))?.code, 'OOM');
    assert.equal(redisReply(reply("NOPERM User u has no permissions to run the 'info' command\nsecond line"))?.text, "NOPERM User u has no permissions to run the 'info' command");
    // Not replies: an Error of ioredis or ours whose words merely look like one.
    assert.equal(redisReply(new Error('NOSCRIPT in a message that is not a reply')), undefined);
    assert.equal(redisReply(new Error('Connection is closed.')), undefined);
    assert.equal(redisReply('NOSCRIPT'), undefined);
  });

  it('relayed by ioredis after every sentinel failed is still read, and marked as from a sentinel', () => {
    const relayed = redisReply(new Error('All sentinels are unreachable. Retrying from scratch after 250ms. Last error: WRONGPASS invalid username-password pair'));
    assert.deepEqual(relayed, { code: 'WRONGPASS', text: 'WRONGPASS invalid username-password pair', fromSentinel: true });
    assert.equal(redisReply(new Error('All sentinels are unreachable. Retrying from scratch after 250ms. Last error: connect ECONNREFUSED 127.0.0.1:26379')), undefined);
  });

  it('decides retries by its code (isRetryable), and a relayed sentinel refusal is retried as ioredis does', () => {
    assert.equal(isRetryable(reply('MASTERDOWN Link with MASTER is down')), true);
    assert.equal(isRetryable(reply('NOSCRIPT No matching script.')), false);
    assert.equal(isRetryable(new Error('All sentinels are unreachable. Last error: WRONGPASS invalid')), true);
  });

  it('decides a rejection by its code (describeRedisRejection), not by words found anywhere in a message', () => {
    assert.match(String(describeRedisRejection(reply('WRONGPASS invalid username-password pair or user is disabled.'))), /WRONGPASS/);
    assert.equal(describeRedisRejection(reply('ERR Error running script: user script mentions NOAUTH and WRONGPASS')), undefined);
    assert.equal(describeRedisRejection(new Error('Command queue state error. Last error: NOPERM')), undefined);
  });
});

describe('the platform refusal', () => {
  it('is classified once, where the answer is read: a connector OpenCTI does not know gets its own code', () => {
    assert.equal(new GraphqlError('FUNCTIONAL_ERROR', 'No connector found with the specified ID').code, ErrorCode.platformConnectorMissing);
    assert.equal(new GraphqlError('FUNCTIONAL_ERROR', 'Stream collection not found').code, ErrorCode.platformRejected);
    const refused = new GraphqlError('AUTH_REQUIRED', 'You must be logged in to do this.');
    assert.equal(refused.platformCode, 'AUTH_REQUIRED');
    assert.equal(refused.unauthenticated, true);
  });

  it('re-registers on a ping refused for a missing connector, and only then', async () => {
    for (const [failure, expected] of [
      [new GraphqlError('FUNCTIONAL_ERROR', 'No connector found with the specified ID'), 2],
      [new GraphqlError('FORBIDDEN_ACCESS', 'You are not allowed to do this.'), 1],
    ] as const) {
      let registrations = 0;
      let pings = 0;
      const api = {
        registerConnector: () => ((registrations += 1), Promise.resolve({ id: 'c', connector_state: null })),
        pingConnector: () => ((pings += 1), pings === 1 ? Promise.reject(failure) : Promise.resolve({ connector_state: 'x' })),
      } as unknown as OpenctiApi;
      const presence = new ConnectorPresence({
        api,
        connector: { id: 'c', name: 'Webhook', scope: ['webhook'] },
        pingIntervalMs: 5,
        state: () => 'x',
        onReset: () => undefined,
        logger: createLogger('test', 'error'),
      });
      void presence.register();
      presence.startPinging();
      await waitFor(() => pings >= 3 || undefined, { timeoutMs: 5_000, what: `pings after ${failure.platformCode}` });
      presence.stop();
      assert.equal(registrations, expected, failure.platformCode);
    }
  });
});

describe('a configuration problem', () => {
  const files = tempDir();
  const schema = z.object({
    section: z.object({
      word: textField('a word', { pattern: /^a/, accepted: 'a word starting with a' }),
      rule: z.string().refine((text) => text === 'ok', { message: 'Invalid on purpose: must be ok' }),
    }),
  });

  it("is worded by the schema's own check, whatever its first word; a bare check says what the field accepts", () => {
    let caught: unknown;
    try {
      loadConfig(schema, { env: { SECTION_WORD: 'banana', SECTION_RULE: 'nope' }, file: files.write('config.yml', '') });
    } catch (error) {
      caught = error;
    }
    files.cleanup();
    assert.ok(caught instanceof ConfigError);
    assert.deepEqual(caught.problems, [
      { variable: 'SECTION_WORD', key: 'section.word', message: 'must be a word starting with a, got "banana"' },
      { variable: 'SECTION_RULE', key: 'section.rule', message: 'Invalid on purpose: must be ok' },
    ]);
  });
});

describe('a webhook TLS failure', () => {
  it('is reported with OWH_WEBHOOK_TLS; other results have no code of their own', () => {
    assert.equal(resultCode('tls'), 'OWH_WEBHOOK_TLS');
    for (const result of ['2xx', '3xx', '4xx', '5xx', 'timeout', 'network'] as const) assert.equal(resultCode(result), undefined, result);
  });
});
