import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareStreamIds } from '../../shared/opencti/stream-id.js';
import { StreamPosition, type CursorSnapshot } from '../../ingester/position/stream-position.js';
import { createRng } from '../helpers/stix-fixtures.js';

type Item = { kind: 'frame'; id: string; eventId: string } | { kind: 'heartbeat'; id: string };

/**
 * A live stream as the platform sends it: groups of frames sharing an id
 * (dependencies, then the event), with heartbeats in between that carry
 * either the last id or a newer one. Ids often share a millisecond so that
 * text ordering (5-2 vs 5-10) would go wrong.
 */
function generateStream(random: () => number): Item[] {
  const int = (n: number) => Math.floor(random() * n);
  let ms = 1 + int(20);
  let seq = int(3);
  const nextId = () => {
    if (random() < 0.5) seq += 1 + int(12);
    else [ms, seq] = [ms + 1 + int(1_000), int(3)];
    return `${ms}-${seq}`;
  };
  const items: Item[] = [];
  const groups = 1 + int(12);
  for (let g = 0; g < groups; g++) {
    const id = nextId();
    const size = 1 + int(4);
    for (let f = 0; f < size; f++) {
      items.push({ kind: 'frame', id, eventId: `${id}#${f}` });
      if (random() < 0.15) items.push({ kind: 'heartbeat', id });
    }
    if (random() < 0.35) items.push({ kind: 'heartbeat', id: random() < 0.5 ? id : nextId() });
  }
  return items;
}

/** Feeds items into a position; returns the event ids it admitted. */
function feed(position: StreamPosition, items: Item[]): string[] {
  const admitted: string[] = [];
  for (const item of items) {
    if (item.kind === 'heartbeat') position.heartbeat(item.id);
    else if (position.admit(item.id, item.eventId)) admitted.push(item.eventId);
  }
  return admitted;
}

const START: CursorSnapshot = { resumeFrom: '0-0', openEventIds: [] };

describe('StreamPosition under a crash at any point of a random stream', () => {
  it('admits every event exactly once across the crash and the replay', () => {
    let scenarios = 0;
    for (let seed = 1; seed <= 300; seed++) {
      const stream = generateStream(createRng(seed));
      const all = stream.flatMap((item) => (item.kind === 'frame' ? [item.eventId] : []));
      assert.deepEqual(feed(new StreamPosition(START), stream), all, `seed ${seed}: no crash`);

      for (let crashAfter = -1; crashAfter < stream.length; crashAfter++) {
        // The snapshot is committed atomically with the jobs of frames 0..crashAfter.
        const before = new StreamPosition(START);
        const admittedBefore = feed(before, stream.slice(0, crashAfter + 1));
        const snapshot = structuredClone(before.snapshot());
        // The platform resends everything strictly after the Last-Event-ID.
        const replay = stream.filter((item) => compareStreamIds(item.id, snapshot.resumeFrom) > 0);
        const admittedAfter = feed(new StreamPosition(snapshot), replay);

        const union = [...admittedBefore, ...admittedAfter];
        const context = `seed ${seed}, crash after item ${crashAfter}`;
        assert.equal(new Set(union).size, union.length, `${context}: an event was admitted twice`);
        assert.deepEqual([...union].sort(), [...all].sort(), `${context}: events lost`);
        scenarios++;
      }
    }
    assert.ok(scenarios > 1_000);
  });
});
