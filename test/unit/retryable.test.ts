import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReplyError } from 'ioredis';
import { isRetryable } from '../../shared/redis/retryable.js';

const reply = (message: string): Error => new (ReplyError as new (message: string) => Error)(message);

describe('isRetryable', () => {
  it('retries what may pass: Redis or OpenCTI out of reach, Redis between states', () => {
    for (const error of [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' }),
      new Error('Connection is closed.'),
      reply('CLUSTERDOWN The cluster is down'),
      reply('LOADING Redis is loading the dataset in memory'),
      reply('READONLY You can\'t write against a read only replica.'),
      reply('OOM command not allowed when used memory > \'maxmemory\'.'),
    ]) assert.equal(isRetryable(error), true, error.message);
  });

  it('does not retry what gets the same answer every time: Redis refusing the command, a bug, a non-Error', () => {
    for (const error of [
      reply('WRONGTYPE Operation against a key holding the wrong kind of value'),
      reply('NOPERM this user has no permissions to run the \'hgetall\' command'),
      new TypeError('cannot read properties of undefined'),
      new RangeError('invalid array length'),
      'a string',
    ]) assert.equal(isRetryable(error), false, String(error));
  });
});
