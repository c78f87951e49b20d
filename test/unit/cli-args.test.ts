import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseArgs, UsageError } from '../../cli/args.js';

const args = (...argv: string[]) => {
  const parsed = parseArgs(argv);
  assert.equal(parsed.show, undefined);
  return 'args' in parsed ? parsed.args : undefined;
};

describe('CLI arguments', () => {
  it('parse each command with its options', () => {
    assert.deepEqual(args('status', '--json'), { command: 'status', json: true, all: false, ids: [], limit: 50, timeoutMs: 5000 });
    assert.equal(args('failed', '--limit', '5')?.limit, 5);
    assert.equal(args('failed', '--limit=7')?.limit, 7);
    assert.deepEqual(args('replay', 'a-1', 'b-2')?.ids, ['a-1', 'b-2']);
    assert.equal(args('replay', '--all', '--json')?.all, true);
    assert.equal(args('status', '--destination', 'siem')?.destination, 'siem');
    assert.equal(args('purge', '--destination=siem')?.destination, 'siem');
    assert.equal(args('status')?.destination, undefined);
    assert.equal(args('check')?.timeoutMs, 5000);
    assert.equal(args('check', '--timeout-ms', '1500', '--json')?.timeoutMs, 1500);
    assert.equal(args('check', '--timeout-ms=200')?.timeoutMs, 200);
    assert.deepEqual(args('check', '--only', 'dispatcher,board')?.only, ['dispatcher', 'board']);
    assert.deepEqual(args('check', '--only=ingester')?.only, ['ingester']);
    assert.equal(args('check')?.only, undefined);
  });

  it('answer help for -h, --help and help', () => {
    for (const flag of ['-h', '--help', 'help']) assert.deepEqual(parseArgs([flag]), { show: 'help' });
  });

  it('answer the version for -v and --version, with or without a command', () => {
    for (const argv of [['-v'], ['--version'], ['status', '--version'], ['nonsense', '-v']]) assert.deepEqual(parseArgs(argv), { show: 'version' }, argv.join(' '));
  });

  it('reject what they do not understand, saying what', () => {
    const cases: Array<[string[], RegExp]> = [
      [[], /missing command/],
      [['stats'], /unknown command "stats"/],
      [['status', '--all'], /unknown option --all for status/],
      [['status', 'extra'], /status takes no argument/],
      [['replay'], /either --all or one or more event ids/],
      [['replay', '--all', 'id-1'], /either --all or/],
      [['failed', '--limit', '0'], /positive integer/],
      [['failed', '--limit'], /positive integer/],
      [['status', '--destination'], /--destination needs a destination name/],
      [['status', '--destination', '--json'], /--destination needs a destination name/],
      [['purge', '--destination='], /--destination needs a destination name/],
      [['failed', '--destination', 'a', '--destination', 'b'], /--destination is given twice/],
      [['check', '--destination', 'siem'], /check takes no --destination/],
      [['check', '--timeout-ms', '0'], /--timeout-ms needs a number of milliseconds from 1 to 120000/],
      [['check', '--timeout-ms', 'soon'], /--timeout-ms needs/],
      [['check', '--timeout-ms=999999'], /--timeout-ms needs/],
      [['status', '--timeout-ms', '100'], /unknown option --timeout-ms for status/],
      [['check', 'extra'], /check takes no argument/],
      [['check', '--only', 'worker'], /--only needs process names from ingester, dispatcher, board/],
      [['check', '--only'], /--only needs/],
      [['status', '--only', 'ingester'], /unknown option --only for status/],
    ];
    for (const [argv, message] of cases) assert.throws(() => parseArgs(argv), (error: unknown) => error instanceof UsageError && message.test(error.message), argv.join(' '));
  });
});
