/**
 * Shared harness of the fault suite. Doubles: the OpenCTI stream emulator
 * (optionally behind a TCP relay that can play "platform down"), a
 * recording receiver scripted with faults, a throwaway redis-server with AOF;
 * the ingester and dispatchers are the real built processes.
 *
 * The only oracles a scenario asserts on:
 * - every event published on the emulator reached the receiver with a 2xx
 *   at least once, byte for byte, under its SSE id; every object the
 *   platform sent as a dependency reached it too (`expectAllDelivered`);
 * - a frame delivered twice always carried the same webhook-id, and no frame
 *   ever got two webhook-ids;
 * - the queue is empty afterwards (nothing waiting, active, delayed or failed
 *   unless the scenario dead-letters on purpose);
 * - no product process exited on its own (no crash loop).
 */
import assert from 'node:assert/strict';
import { Queue, type ConnectionOptions } from 'bullmq';
import { QUEUE_NAME, queuePrefix } from '../../shared/queue/contract.js';
import { expectedDeliveries } from '../helpers/oracle.js';
import { startProcess, type ManagedProcess, type ProcessKind } from '../helpers/processes.js';
import type { PublishSpec } from '../helpers/stream-emulator.js';
import { startTestBed, type TestBed } from '../helpers/test-bed.js';
import { waitFor } from '../helpers/wait.js';

export interface ScenarioReport {
  emitted: number;
  delivered: number;
  duplicated: number;
  requests: number;
  recoverMs?: number;
}

/** Faster settings than production, same code paths. */
export const FAULT_ENV = {
  WEBHOOK_RETRY_BASE_DELAY_MS: '100',
  WEBHOOK_RETRY_MAX_DELAY_MS: '1000',
  WEBHOOK_REQUEST_TIMEOUT_MS: '3000',
  WEBHOOK_PROBE_INITIAL_DELAY_MS: '200',
  WEBHOOK_PROBE_MAX_DELAY_MS: '1000',
  DISPATCHER_LOCK_DURATION_MS: '2000',
  CONNECTOR_CONSUMER_COUNT: '20',
};

/** What a pipeline runs against: the emulator, the receiver, and a Redis of any topology (see test/topology). */
export type PipelineBed = Omit<TestBed, 'redis'>;

/** The key expectedDeliveries gives a frame, from a delivered request. */
const frameKey = (id: unknown, event: unknown, body: string): string => `${String(id)}\n${String(event)}\n${body}`;

export class Pipeline<B extends PipelineBed = TestBed> {
  readonly bed: B;
  readonly env: Record<string, string>;
  readonly queue: Queue;
  readonly #processes = new Set<ManagedProcess>();
  readonly #killed = new Set<ManagedProcess>();

  private constructor(bed: B, env: Record<string, string>, connection: ConnectionOptions) {
    this.bed = bed;
    this.env = env;
    this.queue = new Queue(QUEUE_NAME, { connection, prefix: queuePrefix(env.CONNECTOR_ID!) });
    this.queue.on('error', () => undefined);
  }

  static async start(options: { env?: Record<string, string>; heartbeatIntervalMs?: number } = {}): Promise<Pipeline> {
    const bed = await startTestBed({ redis: { appendonly: true }, emulator: { heartbeatIntervalMs: options.heartbeatIntervalMs ?? 200 } });
    return new Pipeline(bed, bed.env({ ...FAULT_ENV, ...options.env }), { url: bed.redis.url, maxRetriesPerRequest: null });
  }

  /** A pipeline on a bed of the caller's; `connection` reaches its Redis for the queue oracles. */
  static on<B extends PipelineBed>(bed: B, connection: ConnectionOptions, env: Record<string, string> = {}): Pipeline<B> {
    return new Pipeline(bed, bed.env({ ...FAULT_ENV, ...env }), connection);
  }

  async spawn(kind: ProcessKind, env: Record<string, string> = {}): Promise<ManagedProcess> {
    const child = await startProcess(kind, { ...this.env, ...env });
    this.#processes.add(child);
    return child;
  }

  async kill(child: ManagedProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.#killed.add(child);
    await child.kill(signal);
  }

  running(kind: ProcessKind): ManagedProcess[] {
    return [...this.#processes].filter((child) => child.kind === kind && !this.#killed.has(child));
  }

  /**
   * Publishes `total` events in slices while `work` runs, so faults land
   * mid-stream. `work` waits for progress with `more(n)`: n more requests
   * answered 2xx or, once every event is published, all of them delivered (on
   * a slow machine the stream may end before the last fault lands; that fault
   * must still lose nothing).
   */
  async publishDuring(
    total: number,
    perTick: number,
    work: (progress: { more: (n: number, timeoutMs?: number) => Promise<void> }) => Promise<void>,
    spec: (i: number) => PublishSpec = () => ({}),
  ): Promise<void> {
    const { emulator, receiver } = this.bed;
    let published = 0;
    const timer = setInterval(() => {
      const n = Math.min(perTick, total - published);
      if (n <= 0) return clearInterval(timer);
      emulator.publishMany(n, (i) => spec(published + i));
      published += n;
    }, 10);
    const more = (n: number, timeoutMs = 60_000) => {
      const target = receiver.delivered().length + n;
      return waitFor(() => receiver.delivered().length >= target || (published >= total && this.#missing().missing === 0) || undefined, {
        timeoutMs,
        intervalMs: 100,
        what: `${target} requests answered 2xx, or all ${total} events published and delivered`,
      }).then(() => undefined);
    };
    try {
      await work({ more });
      await waitFor(() => published >= total, { timeoutMs: 60_000, what: `${total} events published` });
    } finally {
      clearInterval(timer);
    }
  }

  /**
   * Every published event must arrive as published, even one never written
   * (the platform was away). A dependency frame (a referenced object sent
   * ahead of an event, under that event's id) must arrive under some id: a
   * frame written to a connection whose reader was killed is not always sent
   * again as is, since the platform sends each object once per connection and
   * a new connection may have sent it ahead of another event.
   */
  #missing(undeliverable?: (streamId: string) => boolean): { missing: number; expected: number } {
    const { emulator, receiver } = this.bed;
    const delivered = receiver.delivered();
    const deliveredKeys = new Set(delivered.map((r) => frameKey(r.headers['x-opencti-event-id'], r.headers['x-opencti-event'], r.body)));
    const deliveredBodies = new Set(delivered.map((r) => r.body));
    const mains = expectedDeliveries(emulator.mainFrames());
    let missing = 0;
    for (const [key, frame] of mains) if (!undeliverable?.(frame.id) && !deliveredKeys.has(key)) missing += 1;
    for (const [key, frame] of expectedDeliveries(emulator.sentFrames())) {
      if (!mains.has(key) && !deliveredBodies.has(frame.data)) missing += 1;
    }
    return { missing, expected: mains.size };
  }

  /** Waits until every frame the emulator wrote was acknowledged, then checks the oracles. */
  async expectAllDelivered(
    options: { timeoutMs?: number; failedAllowed?: number; undeliverable?: (streamId: string) => boolean } = {},
  ): Promise<ScenarioReport> {
    const { emulator, receiver } = this.bed;
    await waitFor(
      () => {
        const { missing, expected } = this.#missing(options.undeliverable);
        return missing === 0 && expected > 0 ? true : undefined;
      },
      { timeoutMs: options.timeoutMs ?? 90_000, intervalMs: 200, what: 'every emitted event and dependency delivered with a 2xx' },
    );
    const expected = expectedDeliveries([...emulator.sentFrames(), ...emulator.mainFrames()]);
    const idsByFrame = new Map<string, Set<string>>();
    const deliveriesById = new Map<string, number>();
    for (const request of receiver.delivered()) {
      const key = frameKey(request.headers['x-opencti-event-id'], request.headers['x-opencti-event'], request.body);
      assert.ok(expected.has(key), `delivered a frame the platform never sent: ${String(request.headers['webhook-id'])}`);
      assert.deepEqual(request.bodyBytes, Buffer.from(expected.get(key)!.data, 'utf8'));
      const id = String(request.headers['webhook-id']);
      const ids = idsByFrame.get(key) ?? new Set<string>();
      idsByFrame.set(key, ids.add(id));
      deliveriesById.set(id, (deliveriesById.get(id) ?? 0) + 1);
    }
    for (const ids of idsByFrame.values()) assert.equal(ids.size, 1, `one frame delivered under several webhook-ids: ${[...ids].join(', ')}`);
    await waitFor(
      async () => {
        const counts = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
        const left = (counts.waiting ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0) + (counts.prioritized ?? 0);
        return left === 0 && (counts.failed ?? 0) === (options.failedAllowed ?? 0);
      },
      { timeoutMs: 20_000, what: 'an empty queue' },
    );
    for (const child of this.#processes) {
      if (!this.#killed.has(child)) assert.equal(await Promise.race([child.exit.then(() => 'exited'), Promise.resolve('running')]), 'running', `${child.kind} ${child.pid} exited by itself`);
    }
    return {
      emitted: expected.size,
      delivered: deliveriesById.size,
      duplicated: [...deliveriesById.values()].filter((n) => n > 1).length,
      requests: receiver.requests.length,
    };
  }

  async close(): Promise<void> {
    await this.queue.close().catch(() => undefined);
    await this.bed.close();
  }
}

export function describeReport(report: ScenarioReport): string {
  const recovered = report.recoverMs === undefined ? '' : `, recovered in ${(report.recoverMs / 1000).toFixed(1)} s`;
  return `emitted ${report.emitted}, delivered ${report.delivered}, duplicated ${report.duplicated}, requests ${report.requests}${recovered}`;
}
