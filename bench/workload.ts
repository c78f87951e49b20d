/**
 * What the benchmark feeds the pipeline: realistic OpenCTI envelopes built by the test emulator's
 * own event factory, with a fixed, seeded mix of event names and sizes (most envelopes 1–4 KB, a
 * few large reports, as on a real platform).
 *
 * Building an envelope costs the emulator 0.1–0.3 ms (10 ms for a 150 KB report), which would
 * make the benchmark's own process a noticeable CPU consumer at 2,000 events/s on a 2-core
 * machine. So a pool of envelopes is built once, before anything is measured, and publications
 * cycle through it: the emulator still assigns every event a fresh SSE id and writes it to the
 * stream, only the JSON text is reused. Bodies repeat every `poolSize` events; ids never do.
 *
 * No dependency frames are published, so every SSE id is unique and deliveries are joined to
 * publications on `x-opencti-event-id`.
 */
import { EventFactory, createRng, type BuiltEvent } from '../test/helpers/stix-fixtures.js';
import type { EmittedFrame, StreamEmulator, StreamEventName } from '../test/helpers/stream-emulator.js';
import { nowMs } from './clock.js';

/** Size classes: share of events and byte range of the envelope. */
const SIZE_MIX = [
  { share: 0.97, min: 1_024, max: 4_096 },
  { share: 0.027, min: 8_192, max: 32_768 },
  { share: 0.003, min: 65_536, max: 262_144 },
] as const;

/** Event names. Deletes carry the previous object as is and updates their patch, so those sizes are approximate. */
const EVENT_MIX: ReadonlyArray<{ share: number; event: StreamEventName }> = [
  { share: 0.7, event: 'create' },
  { share: 0.27, event: 'update' },
  { share: 0.03, event: 'delete' },
];

function choose<T extends { share: number }>(items: readonly T[], r: number): T {
  let acc = 0;
  for (const item of items) {
    acc += item.share;
    if (r < acc) return item;
  }
  return items[items.length - 1] as T;
}

interface PooledEvent {
  event: StreamEventName;
  built: BuiltEvent;
  bytes: number;
}

export interface WorkloadStats {
  poolSize: number;
  generationSeconds: number;
  meanBytes: number;
  p50Bytes: number;
  p99Bytes: number;
  maxBytes: number;
  events: Record<string, number>;
}

export class Workload {
  readonly #pool: PooledEvent[];
  readonly stats: WorkloadStats;

  private constructor(pool: PooledEvent[], generationSeconds: number) {
    this.#pool = pool;
    const sizes = pool.map((p) => p.bytes).sort((a, b) => a - b);
    const events: Record<string, number> = {};
    for (const p of pool) events[p.event] = (events[p.event] ?? 0) + 1;
    this.stats = {
      poolSize: pool.length,
      generationSeconds,
      meanBytes: Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length),
      p50Bytes: sizes[Math.floor(sizes.length * 0.5)] ?? 0,
      p99Bytes: sizes[Math.floor(sizes.length * 0.99)] ?? 0,
      maxBytes: sizes[sizes.length - 1] ?? 0,
      events,
    };
  }

  /**
   * Builds `poolSize` envelopes with the emulator's factory (create/update/delete of the same
   * objects); with `eventBytes`, every one is a report create of that size (large-event drains).
   */
  static generate(poolSize: number, seed = 7, eventBytes?: number): Workload {
    const started = nowMs();
    const random = createRng(seed); // deterministic: every run publishes the same workload
    const factory = new EventFactory(`bench-${seed}`);
    const pool: PooledEvent[] = [];
    const baseMs = Date.now();
    for (let index = 0; index < poolSize; index += 1) {
      const sizeClass = choose(SIZE_MIX, random());
      const size = eventBytes ?? Math.round(sizeClass.min + random() * (sizeClass.max - sizeClass.min));
      const large = size >= 65_536;
      const event: StreamEventName = large ? 'create' : choose(EVENT_MIX, random()).event;
      const built = factory.build(index, baseMs + index, {
        envelopeType: event,
        freshDependencies: 0,
        sharedDependencyKeys: [],
        size,
        explicitSize: true,
        inferred: false,
        entityType: large ? 'report' : undefined,
      });
      pool.push({ event, built, bytes: Buffer.byteLength(built.envelope) });
    }
    return new Workload(pool, (nowMs() - started) / 1000);
  }

  /**
   * Makes `emulator` publish pooled envelopes: its factory's build() returns the next pooled event
   * instead of building one. Throws if the emulator's internals no longer match (bench-only hook).
   */
  attach(emulator: StreamEmulator): Publisher {
    const internals = emulator as unknown as { factory?: { build?: unknown } };
    const factory = internals.factory;
    if (factory === undefined || typeof factory.build !== 'function') {
      throw new Error('bench: StreamEmulator has no private `factory.build()` any more; update bench/workload.ts to the new emulator');
    }
    let nextBuilt: BuiltEvent | undefined;
    factory.build = () => {
      const built = nextBuilt;
      nextBuilt = undefined;
      if (built === undefined) throw new Error('bench: emulator publish() called outside the bench publisher');
      return built;
    };
    let cursor = 0;
    const pool = this.#pool;
    return {
      publish(): Published {
        const pooled = pool[cursor % pool.length] as PooledEvent;
        cursor += 1;
        nextBuilt = pooled.built;
        const frames = emulator.publish({ event: pooled.event, dependencies: 0 });
        const main = frames[frames.length - 1] as EmittedFrame;
        return { id: main.id, event: pooled.event, body: main.data, bytes: pooled.bytes };
      },
    };
  }
}

export interface Published {
  /** SSE id (unique: no dependency frames are published). */
  id: string;
  event: StreamEventName;
  /** The envelope, as written after `data: `. */
  body: string;
  /** Its UTF-8 length. */
  bytes: number;
}

export interface Publisher {
  /** Publishes the next pooled event. */
  publish(): Published;
}

export interface Publication {
  /** SSE id of each published event, in order. */
  ids: string[];
  /** When each was written to the stream socket (ms, {@link nowMs} clock). */
  at: Float64Array;
  bytes: Uint32Array;
  firstAt: number;
  lastAt: number;
}

/** Publishes `n` events at once (a backlog waiting for the consumer). */
export function publishBacklog(publisher: Publisher, n: number): Published[] {
  const published: Published[] = [];
  for (let i = 0; i < n; i += 1) published.push(publisher.publish());
  return published;
}

/**
 * Publishes `rate` events per second for `seconds`, driven by elapsed time rather than by counting
 * timer ticks, so a late timer catches up instead of drifting: every tick publishes the events due
 * since the start. Each timestamp is taken right after `publish()` returns, i.e. after the
 * emulator wrote the frame to the connection (it writes synchronously).
 */
export function publishAtRate(publisher: Publisher, rate: number, seconds: number, onPublish?: (id: string, at: number) => void): Promise<Publication> {
  const total = Math.max(1, Math.round(rate * seconds));
  const ids: string[] = [];
  const at = new Float64Array(total);
  const bytes = new Uint32Array(total);
  const started = nowMs();
  return new Promise((resolve) => {
    const tick = (): void => {
      const due = Math.min(total, Math.floor(((nowMs() - started) / 1000) * rate) + 1);
      while (ids.length < due) {
        const { id, bytes: size } = publisher.publish();
        const publishedAt = nowMs();
        at[ids.length] = publishedAt;
        onPublish?.(id, publishedAt);
        bytes[ids.length] = size;
        ids.push(id);
      }
      if (ids.length < total) {
        setTimeout(tick, 1);
        return;
      }
      resolve({ ids, at, bytes, firstAt: at[0] ?? started, lastAt: at[total - 1] ?? started });
    };
    tick();
  });
}
