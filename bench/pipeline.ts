/**
 * One pipeline under test: a fresh redis-server with docker-compose.yml's settings (AOF
 * everysec, noeviction, rewrite thresholds), a fresh connector id, and the real built processes
 * (dist/ingester/main.js, dist/dispatcher/main.js) with production defaults for everything the
 * bench does not set. Each destination has its own queue; with several, Redis gets 1 GB of
 * maxmemory per destination (REDIS_MAXMEMORY in docker-compose.yml), as a deployment that queues
 * every event N times would, so the ingester's memory gate does not throttle a 100,000-event
 * backlog that is three times as large.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { compareStreamIds } from '../shared/opencti/stream-id.js';
import { cursorKey, queuePrefix } from '../shared/queue/contract.js';
import { EMULATOR_TOKEN, STREAM_ID } from '../test/helpers/factories.js';
import { startProcess, type ManagedProcess, type ProcessKind } from '../test/helpers/processes.js';
import { RedisServer } from '../test/helpers/redis-server.js';
import { composeRedisArgs } from './compose-redis.js';
import { destinationEnv, queueNameOf, type BenchDestination } from './destinations.js';
import { processUsage, type ProcessUsage } from './resources.js';

export interface PipelineOptions {
  openctiUrl: string;
  /** The destinations, at `urlFor(destination.path)`; the first is `default`. */
  destinations: readonly BenchDestination[];
  urlFor: (path: string) => string;
  concurrency: number;
  logLevel: string;
  /** When set, the product processes are CPU-profiled (--cpu-prof) into this directory. */
  profileDir?: string | undefined;
  /** Extra NODE_OPTIONS for the product processes. */
  nodeOptions?: string;
  /** Product settings that differ from the defaults in this scenario. */
  env?: Record<string, string>;
}

function nodeOptions(options: PipelineOptions): Record<string, string> {
  const flags = [options.nodeOptions ?? '', options.profileDir === undefined ? '' : `--cpu-prof --cpu-prof-dir=${options.profileDir}`].filter((f) => f.trim() !== '');
  return flags.length === 0 ? {} : { NODE_OPTIONS: flags.join(' ') };
}

export interface UsageSnapshot {
  ingester?: ProcessUsage;
  dispatchers: ProcessUsage[];
  redis: ProcessUsage;
}

export class Pipeline {
  readonly connectorId = `bench-${randomUUID()}`;
  readonly env: Record<string, string>;
  ingester: ManagedProcess | undefined;
  readonly dispatchers: ManagedProcess[] = [];
  /** Every product process started, for mapping CPU profiles (named after the pid) to roles. */
  readonly spawned: Array<{ kind: ProcessKind; pid: number }> = [];
  /** A client of the bench itself (polling, INFO); not the product's. */
  readonly client: Redis;
  readonly destinations: readonly BenchDestination[];
  #stopping = false;
  readonly #stoppedOnPurpose = new Set<ManagedProcess>();
  #failure: Promise<never>;
  #fail: (error: Error) => void = () => undefined;

  private constructor(
    readonly redis: RedisServer,
    options: PipelineOptions,
  ) {
    this.env = {
      OPENCTI_URL: options.openctiUrl,
      OPENCTI_TOKEN: EMULATOR_TOKEN,
      CONNECTOR_ID: this.connectorId,
      CONNECTOR_NAME: 'Webhook bench',
      CONNECTOR_LIVE_STREAM_ID: STREAM_ID,
      // The backlog is the stream itself, read from its start: recover mode (on by default on a
      // first start) would replace it with a snapshot of object states.
      CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE: 'false',
      CONNECTOR_LOG_LEVEL: options.logLevel,
      CONNECTOR_CONSUMER_COUNT: String(options.concurrency),
      ...destinationEnv(options.destinations, options.urlFor),
      REDIS_URL: redis.url,
      // BENCH_ORDERING=entity measures per-entity ordering (validated by the product processes themselves).
      ...(process.env.BENCH_ORDERING ? { WEBHOOK_ORDERING: process.env.BENCH_ORDERING } : {}),
      ...nodeOptions(options),
      ...options.env,
    };
    this.destinations = options.destinations;
    this.client = redis.client({ maxRetriesPerRequest: 3 });
    this.#failure = new Promise<never>((_, reject) => {
      this.#fail = reject;
    });
    this.#failure.catch(() => undefined);
  }

  static async start(options: PipelineOptions): Promise<Pipeline> {
    const redis = await RedisServer.start({ args: redisArgs(options.destinations.length) });
    return new Pipeline(redis, options);
  }

  /** Key prefix of a destination's queue; the first destination's (`default`) when none is named. */
  prefix(destination = this.destinations[0]?.name ?? 'default'): string {
    return `${queuePrefix(this.connectorId)}:${queueNameOf(this.connectorId, destination)}`;
  }

  /** Rejects as soon as a product process exits before {@link stop}. Race every wait against it. */
  get failure(): Promise<never> {
    return this.#failure;
  }

  async startIngester(): Promise<ManagedProcess> {
    this.ingester = await this.#spawn('ingester');
    return this.ingester;
  }

  /** Starts `count` dispatchers, serving every destination or only `env`'s DISPATCHER_DESTINATIONS. */
  async startDispatchers(count: number, env: Record<string, string> = {}): Promise<ManagedProcess[]> {
    const started: ManagedProcess[] = [];
    for (let i = 0; i < count; i += 1) started.push(await this.#spawn('dispatcher', env));
    this.dispatchers.push(...started);
    return started;
  }

  /** Gracefully stops one dispatcher; its usage is no longer part of {@link usage}. */
  async stopDispatcher(dispatcher: ManagedProcess): Promise<void> {
    this.#stoppedOnPurpose.add(dispatcher);
    await dispatcher.kill('SIGTERM');
    this.dispatchers.splice(this.dispatchers.indexOf(dispatcher), 1);
  }

  async #spawn(kind: ProcessKind, env: Record<string, string> = {}): Promise<ManagedProcess> {
    const child = await startProcess(kind, { ...this.env, ...env }, { timeoutMs: 30_000 });
    this.spawned.push({ kind, pid: child.pid });
    void child.exit.then((info) => {
      if (this.#stopping || this.#stoppedOnPurpose.has(child)) return;
      const tail = `${child.stderr.trim().split('\n').slice(-10).join('\n')}\n${child.stdout.trim().split('\n').slice(-10).join('\n')}`;
      this.#fail(new Error(`${kind} (pid ${child.pid}) exited during the benchmark (code ${info.code}, signal ${info.signal}):\n${tail}`));
    });
    return child;
  }

  usage(): UsageSnapshot {
    const redisPid = this.redis.pid;
    if (redisPid === undefined) throw new Error('bench: redis-server is not running');
    return {
      ...(this.ingester ? { ingester: processUsage(this.ingester.pid) } : {}),
      dispatchers: this.dispatchers.map((d) => processUsage(d.pid)),
      redis: processUsage(redisPid),
    };
  }

  /** Stream position the ingester committed (resumeFrom, and the open group's id). */
  async cursor(): Promise<{ resumeFrom?: string; openId?: string }> {
    const [resumeFrom, openId] = await this.client.hmget(cursorKey(this.connectorId), 'resumeFrom', 'openId');
    return { ...(resumeFrom ? { resumeFrom } : {}), ...(openId ? { openId } : {}) };
  }

  /**
   * True once the ingester committed the event with SSE id `lastId` and every one before it: the
   * event is in the open group, or the position moved past it (a later heartbeat).
   */
  async ingested(lastId: string): Promise<boolean> {
    const { resumeFrom, openId } = await this.cursor();
    return openId === lastId || (resumeFrom !== undefined && compareStreamIds(resumeFrom, lastId) >= 0);
  }

  /** Jobs waiting in every destination's queue together. */
  async waitingJobs(): Promise<number> {
    const lengths = await Promise.all(this.destinations.map((d) => this.client.llen(`${this.prefix(d.name)}:wait`)));
    return lengths.reduce((sum, n) => sum + n, 0);
  }

  /** Gracefully stops the ingester (so it commits and, with --cpu-prof, writes its profile). */
  async stopIngester(): Promise<void> {
    const ingester = this.ingester;
    if (!ingester) return;
    this.#stoppedOnPurpose.add(ingester);
    await ingester.kill('SIGTERM');
    this.ingester = undefined;
  }

  /** SIGTERM every product process (graceful: profiles get written), then stops Redis. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const children = [...(this.ingester ? [this.ingester] : []), ...this.dispatchers];
    await Promise.all(children.map((child) => child.kill('SIGTERM').catch(() => undefined)));
    this.client.disconnect();
    await this.redis.stop();
  }
}

/** docker-compose.yml's Redis arguments, with 1 GB of maxmemory per destination when there are several. */
function redisArgs(destinations: number): string[] {
  const args = composeRedisArgs();
  const at = args.indexOf('--maxmemory');
  if (destinations > 1 && at >= 0) args[at + 1] = `${destinations}gb`;
  return args;
}

/** Polls `probe` every `intervalMs` until it is true; rejects after `timeoutMs` with `describe()`. */
export async function pollUntil(probe: () => Promise<boolean>, timeoutMs: number, describe: () => Promise<string>, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${await describe()}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
