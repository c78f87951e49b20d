import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RequestSlots } from '../../dispatcher/delivery/request-slots.js';

/** A promise with its resolve, to hold work open until the test lets it finish. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe('request slots', () => {
  it('run at most `size` pieces of work at once, the waiting ones first come, first served', async () => {
    const slots = new RequestSlots(3);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const gates = Array.from({ length: 10 }, gate);
    const runs = gates.map((g, i) =>
      slots.run(async () => {
        started.push(i);
        running += 1;
        peak = Math.max(peak, running);
        await g.promise;
        running -= 1;
      }),
    );
    await Promise.resolve();
    assert.deepEqual(started, [0, 1, 2]);
    assert.equal(slots.waiting, 7);
    // Finishing out of order hands the slots on in arrival order.
    gates[2]!.open();
    gates[0]!.open();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(started, [0, 1, 2, 3, 4]);
    for (const g of gates) g.open();
    await Promise.all(runs);
    assert.equal(peak, 3);
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(slots.waiting, 0);
  });

  it('give the slot back when the work throws', async () => {
    const slots = new RequestSlots(1);
    await assert.rejects(slots.run(() => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(slots.acquire(), undefined, 'the slot is free again');
    slots.release();
  });

  it('hold a slot without a promise when one is free, and refuse to give back more than was taken', () => {
    const slots = new RequestSlots(2);
    assert.equal(slots.acquire(), undefined);
    assert.equal(slots.acquire(), undefined);
    assert.ok(slots.acquire() instanceof Promise, 'the third waits');
    slots.release(); // to the waiter
    slots.release();
    slots.release();
    assert.throws(() => slots.release(), /released more slots than were taken/);
    assert.throws(() => new RequestSlots(0), RangeError);
  });
});
