/**
 * The platform misbehaving. Doubles: the OpenCTI stream emulator (refusals,
 * dropped connections, garbage frames), a recording receiver, a throwaway
 * redis-server; real processes. Oracle: every distinct data frame the
 * emulator wrote reaches the receiver, and the ingester never exits.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { pipelineEnv } from '../helpers/factories.js';
import { expectedDeliveries } from '../helpers/oracle.js';
import { startProcess, stopAll, type ManagedProcess } from '../helpers/processes.js';
import { RecordingReceiver } from '../helpers/recording-receiver.js';
import { RedisServer } from '../helpers/redis-server.js';
import { StreamEmulator } from '../helpers/stream-emulator.js';
import { waitFor } from '../helpers/wait.js';

describe('stream faults', () => {
  let redis: RedisServer;
  let receiver: RecordingReceiver;
  let emulator: StreamEmulator;

  before(async () => {
    redis = await RedisServer.start();
    receiver = await RecordingReceiver.start();
  });
  afterEach(async () => {
    await stopAll();
    await emulator?.close();
  });
  after(async () => {
    await receiver?.close();
    await redis?.stop();
  });

  async function startPipeline(): Promise<ManagedProcess> {
    const env = pipelineEnv({ redisUrl: redis.url, openctiUrl: emulator.url, webhookUrl: receiver.url });
    const ingester = await startProcess('ingester', env);
    await startProcess('dispatcher', env);
    return ingester;
  }

  /** Waits until the emulator has sent at least `minFrames` data frames and every one of them was delivered. */
  async function allDelivered(minFrames: number, what: string): Promise<void> {
    await waitFor(
      () => {
        if (emulator.sentFrames().length < minFrames) return false;
        const delivered = new Set(receiver.delivered().map((r) => `${r.headers['x-opencti-event-id']}\n${r.headers['x-opencti-event']}\n${r.body}`));
        return [...expectedDeliveries(emulator.sentFrames()).keys()].every((key) => delivered.has(key));
      },
      { timeoutMs: 30_000, what },
    );
  }

  it('retries with backoff after 401 and 410 answers, explains them, and resumes', async () => {
    emulator = await StreamEmulator.start({ heartbeatIntervalMs: 200 });
    emulator.refuseNext(401, 1);
    emulator.refuseNext(410, 1);
    emulator.publishMany(50);
    const ingester = await startPipeline();
    await allDelivered(50, 'events after the refusals');
    const rejected = ingester.logs.find((line) => String(line.msg).startsWith('stream.rejected'));
    assert.ok(rejected, 'no stream.rejected log line');
    assert.match(String(rejected.hint), /OPENCTI_TOKEN.*CONNECTOR_LIVE_STREAM_ID/);
    assert.equal(rejected.status, 401);
    assert.equal(rejected.code, 'OWH_STREAM_REJECTED');
    const stopped = ingester.logs.find((line) => String(line.msg).startsWith('stream.stopped'));
    assert.equal(stopped?.code, 'OWH_STREAM_STOPPED');
    const refused = emulator.requests.filter((r) => r.status === 401 || r.status === 410);
    assert.equal(refused.length, 2);
    const gapMs = emulator.requests[2]!.at - emulator.requests[1]!.at;
    assert.ok(gapMs >= 1_500, `second retry came after ${gapMs} ms: no backoff`);
    assert.equal(JSON.stringify(ingester.logs).includes('emulator-token'), false, 'token logged');
  });

  it('loses nothing when the connection drops again and again, also inside a group of frames sharing an id', async () => {
    emulator = await StreamEmulator.start({ heartbeatIntervalMs: 200 });
    emulator.publishMany(300, (i) => ({ dependencies: i % 2 === 0 ? 3 : 0 }));
    await startPipeline();
    await allDelivered(450, 'the backlog');
    for (const budget of [7, 50, 2, 101, 13]) {
      const connections = emulator.acceptedConnections;
      emulator.dropAfterFrames(budget);
      emulator.publishMany(budget, (i) => ({ dependencies: i % 2 === 0 ? 3 : 0 }));
      await emulator.waitUntil(() => emulator.acceptedConnections > connections, 15_000, 'a reconnection');
    }
    emulator.publishMany(50, () => ({ dependencies: 1 }));
    await allDelivered(450 + 173 + 100, 'every frame despite the drops');
    const ids = receiver.deliveredIds();
    const resent = [...ids.values()].filter((n) => n > 1).length;
    assert.equal(resent, 0, `${resent} events delivered twice`);
  });

  it('logs and skips malformed and unknown frames without crashing', async () => {
    emulator = await StreamEmulator.start({ heartbeatIntervalMs: 200, consumerMetrics: true });
    const ingester = await startPipeline();
    emulator.publishMany(5);
    await allDelivered(5, 'events before the garbage');
    emulator.writeRaw('id: not-an-id\nevent: create\ndata: {"x":1}\n\n');
    emulator.writeRaw('id: 99999999999999-0\nevent: create\ndata: {truncated\n\n');
    emulator.writeRaw('event: error\ndata: {"stream":"x","message":"boom"}\n\n');
    emulator.writeRaw(': a comment\n\nretry: 10\n\n');
    emulator.publishMany(5);
    await allDelivered(10, 'events after the garbage');
    const malformed = ingester.logs.filter((line) => String(line.msg).startsWith('frame.malformed'));
    assert.equal(malformed.length, 2);
    assert.ok(receiver.delivered().every((r) => !r.body.includes('truncated') && !r.body.includes('"x":1')));
    assert.ok(receiver.delivered().every((r) => r.headers['x-opencti-event'] !== 'consumer_metrics'));
  });
});
