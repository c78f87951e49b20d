/**
 * Fault suite, the OpenCTI side: connections dropped every few hundred
 * frames (also inside groups of frames sharing an id), the platform going
 * away (connections cut mid-frame, then refused) and coming back, and 5xx
 * answers. Harness and oracles: see harness.ts.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { describeReport, Pipeline } from './harness.js';
import { TcpRelay } from '../helpers/tcp-relay.js';

let pipeline: Pipeline | undefined;
let relay: TcpRelay | undefined;
afterEach(async () => {
  await relay?.close();
  await pipeline?.close();
  pipeline = undefined;
  relay = undefined;
});

describe('platform faults', () => {
  it('a stream dropped every few hundred frames loses nothing and duplicates nothing', async (t) => {
    const p = (pipeline = await Pipeline.start());
    const { emulator } = p.bed;
    await p.spawn('ingester');
    await p.spawn('dispatcher');
    let drops = 0;
    // 500 events/s, so the drops (each followed by a reconnect after about 1 s) land while frames flow.
    await p.publishDuring(4_000, 5, async () => {
      for (const budget of [150, 333, 201, 457, 3]) {
        const connections = emulator.acceptedConnections;
        emulator.dropAfterFrames(budget);
        await emulator.waitUntil(() => emulator.acceptedConnections > connections, 30_000, 'a reconnection');
        drops += 1;
      }
    }, (i) => ({ dependencies: i % 3 === 0 ? 3 : 0 }));
    const report = await p.expectAllDelivered();
    t.diagnostic(`${drops} dropped connections: ${describeReport(report)}`);
    assert.equal(report.duplicated, 0);
  });

  it('OpenCTI unreachable, then answering 5xx, then back: the ingester waits it out and resumes without a gap', async (t) => {
    const p = (pipeline = await Pipeline.start());
    const { emulator } = p.bed;
    relay = await TcpRelay.start(emulator.url);
    const ingester = await p.spawn('ingester', { OPENCTI_URL: relay.url });
    await p.spawn('dispatcher');
    let backAt = 0;
    await p.publishDuring(3_000, 3, async ({ more }) => {
      for (let round = 0; round < 2; round += 1) {
        // Frames must be flowing again (delivered, not merely written to the relay) before each cut.
        await more(300);
        await relay!.down();
        await new Promise((resolve) => setTimeout(resolve, 2_500)); // the platform is away: a fault window
        emulator.refuseNext(500, 2);
        await relay!.up();
        backAt = Date.now();
      }
    });
    // Published after the last outage: only a recovered ingester can deliver them.
    emulator.publishMany(300);
    const report = await p.expectAllDelivered();
    report.recoverMs = Date.now() - backAt;
    t.diagnostic(`OpenCTI down twice for 2.5 s then 2 × 500: ${describeReport(report)}`);
    const timeline = ingester.logs.filter((line) => String(line.msg).startsWith('stream.')).map((line) => `${String(line.time).slice(11, 23)} ${String(line.msg)} ${String(line.reason ?? '')}`);
    t.diagnostic(timeline.join(' | '));
    assert.ok(ingester.logs.filter((line) => line.msg === 'stream.disconnected').length >= 2);
    assert.equal(emulator.requests.filter((r) => r.status === 500).length, 4);
    assert.ok(ingester.logs.filter((line) => line.msg === 'stream.opened').length >= 3);
  });
});
