import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PackSettlement } from '../../dispatcher/delivery/pack-progress.js';
import { packProgress, settledEvents } from '../../shared/queue/contract.js';

/** A progress writer whose writes land only when the test says so. */
function manualWriter() {
  const writes: Array<{ progress: unknown; land: () => void; fail: (error: Error) => void }> = [];
  const write = (progress: unknown) =>
    new Promise<void>((land, fail) => {
      writes.push({ progress, land, fail });
    });
  return { writes, write };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('pack progress', () => {
  it('reads the numeric form of older dispatchers as the first n events settled', () => {
    assert.deepEqual(settledEvents(3, 5), [true, true, true, false, false]);
    assert.deepEqual(settledEvents(0, 2), [false, false]);
    assert.deepEqual(settledEvents(undefined, 2), [false, false]);
    assert.deepEqual(settledEvents(9, 2), [true, true], 'a count past the end settles all');
  });

  it('reads the set form: the first `settled` and the indexes in `also`; anything unreadable settles nothing', () => {
    assert.deepEqual(settledEvents({ settled: 1, also: [3, 4] }, 5), [true, false, false, true, true]);
    assert.deepEqual(settledEvents({ settled: 0, also: [7] }, 3), [false, false, false]);
    for (const junk of [-1, 1.5, '3', { settled: 'x', also: [] }, { also: [1] }, [1, 2], null]) assert.deepEqual(settledEvents(junk, 2), [false, false], JSON.stringify(junk));
  });

  it('writes the plain count when the settled events are the first n, which older dispatchers read too', () => {
    assert.equal(packProgress([true, true, false]), 2);
    assert.equal(packProgress([false, false]), 0);
    assert.deepEqual(packProgress([true, false, true, false, true]), { settled: 1, also: [2, 4] });
    assert.deepEqual(packProgress([false, true]), { settled: 0, also: [1] });
    for (const settled of [[true, false, true, true], [false, true, false, false]]) assert.deepEqual(settledEvents(packProgress(settled), settled.length), settled);
  });

  it('coalesces writes: one in flight, then the newest state; nothing once every event is settled', async () => {
    const { writes, write } = manualWriter();
    const settlement = new PackSettlement(0, 5, write);
    settlement.settle(2);
    settlement.settle(0);
    settlement.settle(3);
    assert.deepEqual(writes.map((w) => w.progress), [{ settled: 0, also: [2] }], 'one write in flight');
    writes[0]!.land();
    await tick();
    assert.deepEqual(writes.map((w) => w.progress), [{ settled: 0, also: [2] }, { settled: 1, also: [2, 3] }], 'the newest state once the first landed');
    settlement.settle(1);
    settlement.settle(4);
    writes[1]!.land();
    await tick();
    assert.equal(writes.length, 2, 'every event settled: the completion records it, not a write');
  });

  it('flush waits for the writes in flight and writes again what one of them failed to; its own failure rejects', async () => {
    const { writes, write } = manualWriter();
    const settlement = new PackSettlement({ settled: 1, also: [] }, 4, write);
    assert.ok(settlement.isSettled(0) && !settlement.isSettled(1));
    settlement.settle(2);
    settlement.settle(1);
    let flushed = false;
    const flush = settlement.flush().then(() => {
      flushed = true;
    });
    await tick();
    assert.equal(flushed, false, 'a write is in flight');
    writes[0]!.land();
    await tick();
    assert.deepEqual(writes.map((w) => w.progress), [{ settled: 1, also: [2] }, 3]);
    writes[1]!.fail(new Error('Connection is closed.'));
    await tick();
    assert.deepEqual(writes.map((w) => w.progress), [{ settled: 1, also: [2] }, 3, 3], 'the flush writes the lost state again');
    writes[2]!.fail(new Error('Connection is closed.'));
    await assert.rejects(flush, /Connection is closed/);
    const again = settlement.flush();
    await tick();
    assert.equal(writes.length, 4, 'a later flush tries again');
    writes[3]!.land();
    await again;
    await settlement.flush();
    assert.equal(writes.length, 4, 'nothing new to write');
  });

  it('writes nothing when the run settled nothing new', async () => {
    const { writes, write } = manualWriter();
    await new PackSettlement(2, 4, write).flush();
    assert.equal(writes.length, 0);
  });
});
