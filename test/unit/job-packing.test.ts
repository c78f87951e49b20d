import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { packEvents, type PendingEvent } from '../../ingester/commit/job-packing.js';
import { PackJobSchema, type EventJob } from '../../shared/queue/contract.js';

function pending(n: number, entity?: string): PendingEvent {
  const job: EventJob = { event: 'create', streamId: `${n}-0`, body: `{"n":${n}}`, receivedAt: n };
  if (entity !== undefined) job.entity = entity;
  return { eventId: `${n}-0-h${n}`, job };
}

describe('packEvents', () => {
  it('packs runs of consecutive events up to the size, in stream order', () => {
    const jobs = packEvents([1, 2, 3, 4, 5].map((n) => pending(n)), 2);
    assert.deepEqual(jobs.map((j) => j.id), ['1-0-h1..2-0-h2', '3-0-h3..4-0-h4', '5-0-h5']);
    assert.deepEqual(jobs.map((j) => j.name), ['pack', 'pack', 'create']);
    const pack = PackJobSchema.parse(jobs[0]!.data);
    assert.deepEqual(pack.events.map((e) => [e.id, e.body]), [['1-0-h1', '{"n":1}'], ['2-0-h2', '{"n":2}']]);
  });

  it('queues an event alone, as before packs, when the size is 1 or the run has one event', () => {
    const jobs = packEvents([pending(1), pending(2)], 1);
    assert.deepEqual(jobs.map((j) => [j.id, j.name]), [['1-0-h1', 'create'], ['2-0-h2', 'create']]);
    assert.deepEqual(jobs[0]!.data, pending(1).job);
  });

  it('leaves a commit smaller than a pack (live traffic) one job per event', () => {
    const jobs = packEvents([1, 2, 3].map((n) => pending(n)), 4);
    assert.deepEqual(jobs.map((j) => [j.id, j.name, j.events]), [['1-0-h1', 'create', 1], ['2-0-h2', 'create', 1], ['3-0-h3', 'create', 1]]);
  });

  it("packs the few events a filtered destination takes from a backlog's commit", () => {
    const jobs = packEvents([3, 70, 150].map((n) => pending(n)), 20, 200);
    assert.deepEqual(jobs.map((j) => [j.id, j.name, j.events]), [['3-0-h3..150-0-h150', 'pack', 3]]);
  });

  it('never packs an event lined up for per-entity ordering, and keeps the order around it', () => {
    const jobs = packEvents([pending(1), pending(2), pending(3, 'malware--x'), pending(4), pending(5)], 5);
    assert.deepEqual(jobs.map((j) => j.id), ['1-0-h1..2-0-h2', '3-0-h3', '4-0-h4..5-0-h5']);
  });

  it('gives the same events the same ids, so a retried commit adds nothing twice', () => {
    const events = [1, 2, 3].map((n) => pending(n));
    assert.deepEqual(packEvents(events, 3).map((j) => j.id), packEvents(events, 3).map((j) => j.id));
  });
});
