import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { workerName } from '../../dispatcher/config.js';
import { configError, DISPATCHER_ENV, tempDir, variables } from './config-helpers.js';
import { dispatcherConfig } from '../helpers/config.js';

const files = tempDir();
const empty = files.write('empty.yml', '');
after(() => files.cleanup());

const dispatcher = (env: Record<string, string | undefined> = {}) => dispatcherConfig({ env: { ...DISPATCHER_ENV, ...env }, file: empty });

describe('takeover settings', () => {
  it('default to a 10 s lock and the host name as worker name', () => {
    const config = dispatcher();
    assert.deepEqual(config.dispatcher, { lock_duration_ms: 10_000 });
    assert.equal(workerName(config, 'dispatcher-7d9f-abc12'), 'dispatcher-7d9f-abc12');
  });

  it('take DISPATCHER_WORKER_NAME over the host name', () => {
    assert.equal(workerName(dispatcher({ DISPATCHER_WORKER_NAME: 'replica-a' }), 'host'), 'replica-a');
  });

  it('make any host name a valid Redis connection name', () => {
    assert.equal(workerName(dispatcher(), 'my host:1'), 'my-host-1');
    assert.equal(workerName(dispatcher(), ''), 'dispatcher');
  });

  it('refuse a worker name Redis could not carry in a connection name', () => {
    assert.deepEqual(variables(configError(() => dispatcher({ DISPATCHER_WORKER_NAME: 'a b' }))), ['DISPATCHER_WORKER_NAME']);
  });
});
