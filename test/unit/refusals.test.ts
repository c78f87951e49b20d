/**
 * The rule for 4xx refusals (docs/failure-handling.md), on one attempt
 * function with a scripted endpoint and an in-memory breaker: refusals never
 * count toward the outage breaker while a witness is known, an unproven
 * refusal asks the witness, and its answer decides.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Job, Queue } from 'bullmq';
import { createAttempt } from '../../dispatcher/delivery/attempt.js';
import type { EndpointBreaker } from '../../dispatcher/endpoint/breaker.js';
import type { EndpointState } from '../../shared/queue/contract.js';
import { createEventFilter } from '../../shared/routing/event-filter.js';
import { DispatcherMetricFamilies } from '../../dispatcher/metrics.js';
import type { WebhookClient, WebhookResponse } from '../../dispatcher/webhook/client.js';
import { Witness } from '../../dispatcher/endpoint/witness.js';
import { createLogger } from '../../shared/observability/logger.js';
import { PACK_JOB_NAME, type EventJob } from '../../shared/queue/contract.js';
import { buildFormat } from '../../dispatcher/formats/build.js';

const logger = createLogger('test', 'error');

/** The breaker's decisions without Redis: trips on `endpointLevel` or at the threshold. */
class MemoryBreaker {
  state: EndpointState = 'delivering';
  failures: string[] = [];
  #lastSuccessAt = 0;
  succeededSince(time: number): boolean {
    return this.#lastSuccessAt > time;
  }
  recordSuccess(): void {
    this.#lastSuccessAt = Date.now();
    this.state = 'delivering';
  }
  recordFailure(reason: string, _retryAfterMs?: number, endpointLevel = false): boolean {
    this.failures.push(reason);
    if (endpointLevel || this.failures.length >= 10) this.state = 'paused';
    return this.state === 'paused';
  }
}

const event = (n: number, type = 'malware'): EventJob => ({
  event: 'create',
  streamId: `${n}-0`,
  body: JSON.stringify({ data: { id: `${type}--${n}`, type } }),
  receivedAt: Date.now(),
});

function setUp(answer: (webhookId: string) => number, completed: Job[] = []) {
  const posted: string[] = [];
  const client = {
    post: async (webhookId: string): Promise<WebhookResponse> => {
      posted.push(webhookId);
      const status = answer(webhookId);
      return status < 300 ? { status } : { status, excerpt: 'no' };
    },
  } as unknown as WebhookClient;
  const queue = { getCompleted: async () => completed } as unknown as Queue;
  const metrics = new DispatcherMetricFamilies('test').destination('default', queue);
  const breaker = new MemoryBreaker();
  const filter = createEventFilter({ entityTypes: ['malware', 'report'] });
  const witness = new Witness({ client, format: buildFormat({ format: 'raw' }), queue, metrics, logger, filter });
  const attempt = createAttempt({ client, format: buildFormat({ format: 'raw' }), breaker: breaker as unknown as EndpointBreaker, metrics, logger, witness, failureThreshold: 10, filter });
  return { attempt, breaker, posted };
}

/** Waits past the millisecond of a refusal, so that a later 2xx is after it. */
const nextMillisecond = () => new Promise((resolve) => setTimeout(resolve, 2));

describe('refusals (4xx)', () => {
  it('with no witness known, count toward the outage breaker as any failure, and are never dead-lettered', async () => {
    const { attempt, breaker } = setUp(() => 401);
    for (let i = 1; i <= 10; i += 1) assert.notEqual((await attempt(`e${i}`, event(i), 1)).kind, 'rejected');
    assert.equal(breaker.failures.length, 10);
    assert.equal(breaker.state, 'paused');
  });

  it('with a witness known, never count toward the breaker; a second unproven refusal asks the witness, and its 2xx dead-letters the event', async () => {
    const { attempt, breaker, posted } = setUp((id) => (id === 'poison' ? 422 : 200));
    assert.equal((await attempt('good', event(1), 1)).kind, 'done');
    assert.equal((await attempt('poison', event(2, 'report'), 1)).kind, 'refused');
    await nextMillisecond();
    assert.deepEqual(await attempt('poison', event(2, 'report'), 2), { kind: 'rejected', message: 'webhook refused the event: HTTP 422: no' });
    assert.deepEqual(posted, ['good', 'poison', 'poison', 'good'], 'the witness is the event delivered before, under its own webhook-id');
    assert.deepEqual(breaker.failures, []);
  });

  it('a refused witness means the endpoint refuses everything: an outage, nothing dead-lettered', async () => {
    let revoked = false;
    const { attempt, breaker, posted } = setUp(() => (revoked ? 401 : 200));
    assert.equal((await attempt('good', event(1), 1)).kind, 'done');
    revoked = true;
    assert.equal((await attempt('next', event(2), 1)).kind, 'refused');
    await nextMillisecond();
    assert.equal((await attempt('next', event(2), 2)).kind, 'endpoint_down');
    assert.deepEqual(posted, ['good', 'next', 'next', 'good']);
    assert.equal(breaker.state, 'paused');
  });

  it('refusals in a row ask the witness at the outage threshold, not before', async () => {
    const { attempt, posted } = setUp((id) => (id.startsWith('bad') ? 422 : 200));
    await attempt('good', event(0), 1);
    for (let i = 1; i <= 9; i += 1) assert.equal((await attempt(`bad${i}`, event(i), 1)).kind, 'refused');
    assert.equal(posted.filter((id) => id === 'good').length, 1);
    await attempt('bad10', event(10), 1);
    assert.equal(posted.filter((id) => id === 'good').length, 2, 'the tenth refusal in a row asks the witness');
  });

  it('after a restart the witness is the newest completed event that was POSTed', async () => {
    const pack = (unpacked: number, ...ids: string[]) =>
      ({ name: PACK_JOB_NAME, id: ids.join('..'), returnvalue: { done: ids.length - unpacked, unpacked }, data: { events: ids.map((id, n) => ({ ...event(n), id })) } }) as unknown as Job;
    const filteredOut = { name: 'create', id: 'filtered', data: event(5, 'indicator') } as unknown as Job;
    // Newest first, as getCompleted returns them: a pack some events left, a filtered event, then a fully delivered pack.
    const { attempt, posted } = setUp((id) => (id === 'poison' ? 422 : 200), [pack(1, 'p1', 'p2'), filteredOut, pack(0, 'q1', 'q2')]);
    await attempt('poison', event(9, 'report'), 1);
    await nextMillisecond();
    assert.equal((await attempt('poison', event(9, 'report'), 2)).kind, 'rejected');
    assert.deepEqual(posted, ['poison', 'poison', 'q2']);
  });
});
