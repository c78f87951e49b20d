/**
 * When a ping's answer is a reset. A scripted platform (stub of the two
 * GraphQL calls) answers registration and pings; the oracle is how often
 * onReset is called.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConnectorPresence } from '../../ingester/platform/connector-presence.js';
import type { OpenctiApi } from '../../ingester/platform/opencti-api.js';
import { createLogger } from '../../shared/observability/logger.js';
import { waitFor } from '../helpers/wait.js';

const STATE = '{"start_from": "5-0", "recover_until": false}';

/** Registration answers `registered`; ping n answers `answers[n]` (a function of the state sent), the last one forever. */
function run(registered: string | null, answers: Array<(sent: string) => string | null>, pings: number) {
  let count = 0;
  const api = {
    registerConnector: () => Promise.resolve({ id: 'c', connector_state: registered }),
    pingConnector: (_id: string, sent: string) => {
      const answer = answers[Math.min(count, answers.length - 1)]!;
      count += 1;
      return Promise.resolve({ connector_state: answer(sent) });
    },
  } as unknown as OpenctiApi;
  let resets = 0;
  const presence = new ConnectorPresence({
    api,
    connector: { id: 'c', name: 'Webhook', scope: ['webhook'] },
    pingIntervalMs: 5,
    state: () => STATE,
    onReset: () => (resets += 1),
    logger: createLogger('test', 'error'),
  });
  void presence.register();
  presence.startPinging();
  return waitFor(() => count >= pings, { timeoutMs: 5_000, what: `${pings} pings` }).then(() => {
    presence.stop();
    return resets;
  });
}

const keeps = (sent: string) => sent;
const empty = () => '';

describe('ConnectorPresence: resets', () => {
  it('takes an empty answer after a stored state for a reset, once', async () => {
    assert.equal(await run(null, [keeps, empty, keeps], 6), 1);
  });

  it('takes an empty answer to the first ping for a reset when registration found a state (reset while stopped)', async () => {
    assert.equal(await run('', [empty, keeps], 4), 1);
    assert.equal(await run(STATE, [empty, keeps], 4), 1);
  });

  it('never takes a platform that does not keep the state for resets over and over', async () => {
    assert.equal(await run(null, [() => null], 6), 0);
    assert.equal(await run('', [empty], 6), 1);
  });
});
