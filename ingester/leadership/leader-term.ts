import type { Queue } from 'bullmq';
import type { Dispatcher } from 'undici';
import type { Logger } from '../../shared/observability/logger.js';
import type { IngesterConfig } from '../config.js';
import { formatPyctiState } from '../platform/connector-state.js';
import { ConnectorPresence } from '../platform/connector-presence.js';
import type { Cursor, CursorStore, ReadingSettings } from '../position/cursor-store.js';
import { Enqueuer } from '../commit/enqueuer.js';
import type { Router } from '../routing/router.js';
import { createFrameHandler } from '../stream/frame-handler.js';
import type { IngesterMetrics } from '../metrics.js';
import type { OpenctiApi } from '../platform/opencti-api.js';
import type { PlatformFrames } from '../stream/platform-frames.js';
import { QueueDepthGate } from '../backpressure/queue-depth-gate.js';
import { RecentJobSizes } from '../backpressure/recent-job-sizes.js';
import type { RedisMemory } from '../backpressure/redis-memory.js';
import { chooseStart, configuredStart, type StartSettings } from '../position/start-point.js';
import { StreamClient } from '../stream/client.js';
import { liveStreamHeaders } from '../stream/request.js';
import { streamIdMs } from '../../shared/opencti/stream-id.js';
import { StreamPosition } from '../position/stream-position.js';

export interface LeaderTermDeps {
  config: Pick<IngesterConfig, 'connector' | 'ingester' | 'opencti'>;
  logger: Logger;
  metrics: IngesterMetrics;
  /** Process-wide: its gauges are registered once. */
  platformFrames: PlatformFrames;
  api: OpenctiApi;
  platformHttp: Dispatcher;
  streamBaseUrl: string;
  startSettings: StartSettings;
  cursor: CursorStore;
  /** The queue depth (backpressure): of the fullest destination queue. */
  queueDepth: Pick<Queue, 'getJobCountByTypes'>;
  /** Redis memory, read with the queue depth (backpressure). */
  redisMemory: () => Promise<RedisMemory | undefined>;
  /** Which destinations get each event; their queues are on the commit connection, which the fence WATCHes. */
  router: Router;
  /** True while this term is current (see lease.ts termFence). */
  fence: () => Promise<boolean>;
  /** A commit was fenced: another ingester leads. */
  onFenced: () => void;
  /** Resolves once the live stream is started in OpenCTI (the startup check may have found it stopped). */
  streamStarted: (signal: AbortSignal) => Promise<void>;
}

/**
 * Everything the leader runs during one leadership term: the position loaded
 * from Redis, registration and pings in OpenCTI (only the leader reports a
 * position), the stream, the enqueuer with its fenced commits, backpressure.
 * A standby runs none of it. A term can be stopped at any point of its start.
 */
export class LeaderTerm {
  #stream: StreamClient | undefined;
  #enqueuer: Enqueuer | undefined;
  #gate: QueueDepthGate | undefined;
  #presence: ConnectorPresence | undefined;

  constructor(private readonly deps: LeaderTermDeps) {}

  get connected(): boolean {
    return this.#stream?.connected ?? false;
  }

  get backlog(): number {
    return this.#enqueuer?.backlog ?? 0;
  }

  /** Loads the position and starts reading; returns early (reading nothing) if `ended` aborts meanwhile. */
  async start(ended: AbortSignal): Promise<void> {
    const { config, logger, metrics, api, startSettings, cursor } = this.deps;
    const { connector } = config;
    const stored = await cursor.load();
    if (ended.aborted) return;

    // Only the leader registers and pings: pings report the position it commits.
    const presence = (this.#presence = new ConnectorPresence({
      api,
      connector: { id: connector.id, name: connector.name, scope: connector.scope.split(',').map((scope) => scope.trim()).filter(Boolean) },
      pingIntervalMs: config.ingester.ping_interval_ms,
      state: () => formatPyctiState({ startFrom: committed.resumeFrom, recoverUntil: committed.recoverUntil }),
      onReset: () => {
        const to = configuredStart(startSettings, Date.now(), reading.generation + 1);
        logger.warn(
          { from: committed.resumeFrom, resumeFrom: to.resumeFrom, recoverUntil: to.recoverUntil, generation: to.generation, hint: 'the connector state was reset in OpenCTI; reading the stream again from the configured start (CONNECTOR_LIVE_STREAM_START_TIMESTAMP, CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE)' },
          'position.reset',
        );
        readFrom(to);
      },
      logger,
    }));
    const registration = presence.register();
    // Without a cursor in Redis, the platform's state decides where to start
    // (the Python connector's position carries over): wait for its answer. With
    // one, reading starts now and registration goes on in the background.
    if (!stored) logger.info({ hint: 'no position in Redis yet; asking OpenCTI for the connector state' }, 'position.none_stored');
    const answer = stored ? undefined : await registration;
    if (ended.aborted) return;
    const start = chooseStart(stored, answer && 'state' in answer ? answer.state : undefined, startSettings, Date.now());
    /** Read with the position; changed only by a rewind. */
    let reading: ReadingSettings = { recoverUntil: start.cursor.recoverUntil, generation: start.cursor.generation };
    /** The cursor Redis holds: what pings report. */
    let committed: Cursor = start.cursor;
    const position = new StreamPosition(start.cursor);
    logger.info({ resumeFrom: position.resumeFrom, recoverUntil: reading.recoverUntil, generation: reading.generation, source: start.source }, 'ingester.position_loaded');

    const jobSizes = new RecentJobSizes(config.ingester.max_queued_events, config.ingester.events_per_job);
    const enqueuer = (this.#enqueuer = new Enqueuer({
      router: this.deps.router,
      cursor,
      snapshot: () => ({ ...position.snapshot(), ...reading }),
      logger,
      startCommit: stored?.commit ?? 0,
      onCommitted: (snapshot, batch, durationMs, jobs) => {
        committed = snapshot;
        for (const job of jobs) jobSizes.record(job.events);
        metrics.committed(streamIdMs(snapshot.resumeFrom), batch.map(({ job }) => job.event), durationMs);
        if (batch.length > 0) logger.debug({ events: batch.length, resumeFrom: snapshot.resumeFrom, durationMs }, 'events.enqueued');
      },
      onLostWrites: (kept) => {
        const rewindTo = kept?.cursor ?? configuredStart(startSettings, Date.now(), reading.generation);
        logger.error(
          { lostFrom: position.resumeFrom, rewindTo: rewindTo.resumeFrom, hint: 'Redis lost its latest writes (restarted without persistence, or within its last fsync); reading the stream again from the position it kept' },
          'position.lost_writes',
        );
        readFrom(rewindTo);
      },
      fence: this.deps.fence,
      onFenced: this.deps.onFenced,
    }, { eventsPerJob: config.ingester.events_per_job }));
    const gate = (this.#gate = new QueueDepthGate(
      {
        queue: this.deps.queueDepth,
        reader: enqueuer,
        jobSizes,
        memory: this.deps.redisMemory,
        logger,
        observer: { paused: (paused) => metrics.backpressure(paused), memoryRatio: (ratio) => metrics.redisMemoryRatio(ratio) },
      },
      {
        highWaterMark: config.ingester.max_queued_events,
        lowWaterMark: Math.floor(config.ingester.max_queued_events * 0.8),
        memoryHighRatio: config.ingester.max_redis_memory_percent / 100,
        memoryLowRatio: (config.ingester.max_redis_memory_percent - 10) / 100,
      },
    ));

    const stream = new StreamClient({
      // pycti sends the same ?recover= on every connection; the date is normalised, nothing to escape.
      url: () => (reading.recoverUntil === false ? this.deps.streamBaseUrl : `${this.deps.streamBaseUrl}?recover=${reading.recoverUntil}`),
      dispatcher: this.deps.platformHttp,
      headers: liveStreamHeaders(config),
      lastEventId: () => position.resumeFrom,
      onFrame: createFrameHandler({
        position,
        enqueuer,
        metrics,
        platformFrames: this.deps.platformFrames,
        generation: () => reading.generation,
        logger,
      }),
      waitForCapacity: async () => {
        await enqueuer.waitForCapacity();
        await gate.waitForRoom();
      },
      onConnected: () => metrics.connected(),
      onDisconnected: (reason) => metrics.disconnected(reason),
      logger,
    });
    presence.startPinging();
    await this.deps.streamStarted(ended);
    if (ended.aborted) return;
    this.#stream = stream;
    stream.start();

    /**
     * Reads the stream again from `to`: after Redis lost writes, or a state reset
     * in OpenCTI. All synchronous: no frame of the old connection slips in, and
     * the next commit writes the new cursor.
     */
    function readFrom(to: Cursor): void {
      metrics.positionRewound();
      position.rewind(to);
      reading = { recoverUntil: to.recoverUntil, generation: to.generation };
      stream.restart();
      enqueuer.positionChanged();
    }
  }

  /**
   * Ends the term. `graceful` (shutdown, lease still ours): stop reading and
   * commit what was read. Otherwise the lease is lost: stop reading and drop
   * what was read, which the next leader reads again from the committed position.
   */
  async stop(graceful: boolean): Promise<void> {
    this.#gate?.stop();
    await this.#stream?.stop();
    this.deps.metrics.termEnded();
    if (graceful) await this.#enqueuer?.flushed();
    else this.#enqueuer?.stop();
    this.#presence?.stop();
  }
}
