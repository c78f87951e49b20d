import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { FORWARDED_EVENTS, type ForwardedEvent } from '../shared/queue/contract.js';
import { FILTER_REASONS, type FilterReason } from '../shared/routing/event-filter.js';
import type { DisconnectReason } from './stream/client.js';

export type FrameKind = 'event' | 'replayed' | 'heartbeat' | 'connected' | 'ignored' | 'malformed';

/**
 * The ingester's metrics. `current_state{name}` keeps the original
 * connector's name and meaning (stream position in epoch ms) but reports the
 * committed position, so it never goes backwards.
 */
export class IngesterMetrics {
  readonly registry = new Registry();
  readonly #currentState: Gauge;
  readonly #frames: Counter<'kind'>;
  readonly #enqueued: Counter<'action'>;
  readonly #enqueueSeconds: Histogram;
  readonly #connected: Gauge;
  readonly #disconnects: Counter<'reason'>;
  readonly #gaps: Counter;
  readonly #gapSeconds: Counter;
  readonly #rewinds: Counter;
  readonly #backpressure: Gauge;
  readonly #redisMemoryRatio: Gauge;
  readonly #filtered: Counter<'reason' | 'destination'>;
  #committedMs = 0;
  #newestIdMs: number | undefined;

  constructor(
    private readonly connectorName: string,
    backlog: () => number,
    destinations: readonly string[],
  ) {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.#currentState = new Gauge({ name: 'current_state', help: 'Committed stream position (epoch ms of the resume id)', labelNames: ['name'], registers });
    this.#frames = new Counter({ name: 'opencti_webhook_stream_frames_total', help: 'Stream frames read, by what they turned out to be', labelNames: ['kind'], registers });
    this.#enqueued = new Counter({ name: 'opencti_webhook_events_enqueued_total', help: 'Events durably committed with the stream position, each queued for every destination whose filters take it, by SSE event name', labelNames: ['action'], registers });
    this.#enqueueSeconds = new Histogram({
      name: 'opencti_webhook_enqueue_duration_seconds',
      help: 'Duration of one Redis transaction adding a batch of events and the position',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.#connected = new Gauge({ name: 'opencti_webhook_stream_connected', help: '1 while the live stream connection is open', registers });
    this.#disconnects = new Counter({ name: 'opencti_webhook_stream_disconnects_total', help: 'Stream connections lost or refused, by reason', labelNames: ['reason'], registers });
    this.#gaps = new Counter({ name: 'opencti_webhook_stream_gaps_total', help: 'Reconnections where OpenCTI had trimmed events past the committed position', registers });
    this.#gapSeconds = new Counter({ name: 'opencti_webhook_stream_gap_seconds_total', help: 'Stream time lost to trimming, summed over gaps', registers });
    this.#rewinds = new Counter({ name: 'opencti_webhook_position_rewinds_total', help: 'Times the stream was read again from an earlier position: Redis had lost committed writes, or the state was reset in OpenCTI', registers });
    this.#backpressure = new Gauge({
      name: 'opencti_webhook_ingester_paused',
      help: '1 while reading is paused because the queue holds too many events or Redis nears its maxmemory; absent while the queue depth cannot be read',
      registers,
    });
    this.#redisMemoryRatio = new Gauge({
      name: 'opencti_webhook_redis_memory_used_ratio',
      help: 'Redis used_memory over maxmemory, read by the leading ingester with the queue depth; absent without a maxmemory',
      registers,
    });
    this.#redisMemoryRatio.remove();
    new Gauge({
      name: 'opencti_webhook_ingester_buffered_events',
      help: 'Events read but not yet committed to Redis',
      registers,
      collect() {
        this.set(backlog());
      },
    });
    const newestIdMs = () => this.#newestIdMs;
    new Gauge({
      name: 'opencti_webhook_stream_lag_seconds',
      help: 'Now minus the time of the newest stream id read (events and heartbeats); NaN until the first one and while this ingester stands by',
      registers,
      collect() {
        const newest = newestIdMs();
        this.set(newest === undefined ? Number.NaN : Math.max(0, Date.now() - newest) / 1000);
      },
    });
    for (const action of FORWARDED_EVENTS) this.#enqueued.labels(action);
    this.#filtered = new Counter({
      name: 'opencti_webhook_events_filtered_total',
      help: 'Events not queued for a destination, by reason: its EVENT_TYPES, ENTITY_TYPES, MARKINGS_EXCLUDE, FILTER (filter: false; filter_failed: an error or the time limit)',
      labelNames: ['reason', 'destination'],
      registers,
    });
    for (const destination of destinations) for (const reason of FILTER_REASONS) this.#filtered.labels(reason, destination);
  }

  filtered(destination: string, reason: FilterReason, count: number): void {
    this.#filtered.labels(reason, destination).inc(count);
  }

  /** A frame carried this stream id's milliseconds; replays after a reconnect never move it back. */
  idSeen(idMs: number): void {
    if (this.#newestIdMs === undefined || idMs > this.#newestIdMs) this.#newestIdMs = idMs;
  }

  frame(kind: FrameKind): void {
    this.#frames.labels(kind).inc();
  }

  committed(positionMs: number, events: readonly ForwardedEvent[], durationMs: number): void {
    for (const action of events) this.#enqueued.labels(action).inc();
    this.#enqueueSeconds.observe(durationMs / 1000);
    if (positionMs > this.#committedMs) {
      this.#committedMs = positionMs;
      this.#currentState.labels(this.connectorName).set(positionMs);
    }
  }

  gapDetected(gapMs: number): void {
    this.#gaps.inc();
    this.#gapSeconds.inc(gapMs / 1000);
  }

  positionRewound(): void {
    this.#rewinds.inc();
  }

  /** Undefined: the reading failed, so the gauge shows nothing rather than a stale value. */
  backpressure(paused: boolean | undefined): void {
    if (paused === undefined) this.#backpressure.remove();
    else this.#backpressure.set(paused ? 1 : 0);
  }

  redisMemoryRatio(ratio: number | undefined): void {
    if (ratio === undefined) this.#redisMemoryRatio.remove();
    else this.#redisMemoryRatio.set(ratio);
  }

  connected(): void {
    this.#connected.set(1);
  }

  /**
   * The leader term ended (shutdown, or the lease lost): the stream was closed
   * on purpose, not a disconnect. A standby reads nothing, so its lag, pause
   * and Redis memory readings would only grow stale: they go back to none.
   */
  termEnded(): void {
    this.#connected.set(0);
    this.#newestIdMs = undefined;
    this.#backpressure.remove();
    this.#redisMemoryRatio.remove();
  }

  disconnected(reason: DisconnectReason): void {
    this.#connected.set(0);
    this.#disconnects.labels(reason).inc();
  }
}
