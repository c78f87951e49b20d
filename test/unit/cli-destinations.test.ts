import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UsageError } from '../../cli/args.js';
import { chooseDestinations, unknownDestination } from '../../cli/destinations.js';

const both = ['default', 'siem'];
const usage = (run: () => unknown, message: RegExp) => assert.throws(run, (error: unknown) => error instanceof UsageError && message.test(error.message));

describe('CLI destinations', () => {
  it('cover every configured destination for status and failed without --destination', () => {
    for (const command of ['status', 'failed'] as const) {
      assert.deepEqual(chooseDestinations(command, undefined, both), [
        { name: 'default', configured: true },
        { name: 'siem', configured: true },
      ]);
    }
  });

  it('take the only configured destination for replay, and require --destination when there are several, naming them', () => {
    assert.deepEqual(chooseDestinations('replay', undefined, ['siem']), [{ name: 'siem', configured: true }]);
    usage(() => chooseDestinations('replay', undefined, both), /^replay needs --destination <name> when several destinations are configured \(configured: default, siem\)/);
  });

  it('always require --destination for purge, even with one destination', () => {
    usage(() => chooseDestinations('purge', undefined, ['default']), /^purge needs --destination <name>.*\(configured: default\)/);
    assert.deepEqual(chooseDestinations('purge', 'siem', both), [{ name: 'siem', configured: true }]);
  });

  it('take a named destination the configuration no longer lists, marked as such', () => {
    for (const command of ['status', 'failed', 'replay', 'purge'] as const) {
      assert.deepEqual(chooseDestinations(command, 'retired', both), [{ name: 'retired', configured: false }]);
    }
  });

  it('name the configured destinations when a name is unknown', () => {
    const error = unknownDestination('sime', both);
    assert.ok(error instanceof UsageError);
    assert.equal(error.code, 'OWH_CLI_USAGE');
    assert.match(error.message, /^unknown destination "sime": configured destinations are default, siem/);
  });
});
