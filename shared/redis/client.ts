import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { urlDatabase, type RedisAddress, type RedisSettings } from '../config/redis-fields.js';
import type { Logger } from '../observability/logger.js';
import { redactUrl } from '../observability/redact.js';
import { RepeatThrottle } from '../observability/repeat-throttle.js';
import { classifyTlsFailure } from '../net/tls-error.js';
import { tlsConnectionOptions } from '../net/tls.js';
import { redisReply } from './reply.js';

/** A connection to where the queue lives: one server or a Sentinel-managed master (`Redis`), or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

export interface CreateRedisOptions {
  /**
   * For a person waiting at a prompt (the CLI): no automatic reconnects, one
   * attempt per command, connect on `connect()`. Services wait for Redis
   * forever instead, so an outage pauses the pipeline rather than losing work.
   */
  failFast?: boolean;
}

const FAIL_FAST_CONNECT_TIMEOUT_MS = 5_000;
/** A server that accepted the socket but never answers would hold a closing CLI this long (ioredis' default: 2 s). */
const FAIL_FAST_DISCONNECT_TIMEOUT_MS = 100;
/** Reconnect backoff of the services: 0.25 s more per attempt, at most 5 s. */
const reconnectDelay = (attempt: number): number => Math.min(attempt * 250, 5_000);

/**
 * Redis Cluster failover: the dead master's slots answer nothing (closed
 * connection) then CLUSTERDOWN until a replica is promoted, about
 * cluster-node-timeout plus an election. Commands wait and retry through it
 * (each retry refreshes the slot map) instead of failing after ioredis'
 * default 16 tries (under 2 s); after ~60 s they fail and their caller's own
 * retry (the ingester's commit loop, BullMQ's worker loop) takes over.
 */
const CLUSTER_RETRY = {
  retryDelayOnFailover: 300,
  retryDelayOnClusterDown: 300,
  retryDelayOnTryAgain: 300,
  maxRedirections: 200,
} as const;

/**
 * One connection configured for BullMQ, for the topology of `settings`:
 * commands wait for a reconnect instead of failing (maxRetriesPerRequest:
 * null), so a Redis restart or failover pauses the pipeline rather than
 * losing work. Errors are logged once per outage. Credentials and TLS
 * failures at the first connection are configuration errors: one fatal line
 * naming the variables to fix, exit 1 (later ones are logged as an outage
 * and retried: an operator may fix the ACL without restarting).
 */
export function createRedis(settings: RedisSettings, role: string, logger: Logger): RedisClient {
  const client = createRedisClient(settings, role);
  watchConnection(client, role, logger);
  return client;
}

/** The client alone, without logging; `failFast` for the CLI. */
export function createRedisClient(settings: RedisSettings, role: string, options: CreateRedisOptions = {}): RedisClient {
  const url = new URL(settings.url);
  const tls = url.protocol === 'rediss:' ? tlsOptions(settings) : undefined;
  const node: RedisOptions = {
    username: settings.username ?? (decodeURIComponent(url.username) || undefined),
    password: settings.password ?? (decodeURIComponent(url.password) || undefined),
    connectionName: `opencti-webhook:${role}`,
    ...(tls ? { tls } : {}),
    ...(options.failFast
      ? { lazyConnect: true, connectTimeout: FAIL_FAST_CONNECT_TIMEOUT_MS, maxRetriesPerRequest: 1, retryStrategy: () => null, disconnectTimeout: FAIL_FAST_DISCONNECT_TIMEOUT_MS }
      : { maxRetriesPerRequest: null, retryStrategy: reconnectDelay }),
  };
  if (settings.mode === 'cluster') {
    const seeds = settings.cluster_nodes ?? [urlAddress(url)];
    const cluster: ClusterOptions = {
      ...CLUSTER_RETRY,
      // Node connections do not reconnect by themselves (ioredis): the cluster refreshes its slot map instead.
      redisOptions: withoutRetryStrategy(node),
      clusterRetryStrategy: options.failFast ? () => null : reconnectDelay,
      lazyConnect: options.failFast === true,
      slotsRefreshTimeout: 2_000,
      // Seed host names stay names (ioredis would resolve them to IPs first), so TLS checks the
      // certificate against the name configured, as managed clusters (ElastiCache…) require.
      ...(tls ? { dnsLookup: (host: string, callback: (error: null, address: string) => void) => callback(null, host) } : {}),
    };
    return new Cluster(seeds, cluster);
  }
  const db = urlDatabase(url) ?? 0;
  if (settings.mode === 'sentinel') {
    return new Redis({
      ...node,
      db,
      sentinels: settings.sentinels ?? [],
      name: settings.sentinel_master!,
      role: 'master',
      sentinelUsername: settings.sentinel_username,
      sentinelPassword: settings.sentinel_password,
      ...(settings.sentinel_tls ? { sentinelTLS: tlsOptions(settings) } : {}),
      enableTLSForSentinelMode: tls !== undefined,
      // Subscribes to the sentinels' +switch-master, so a failover moves the connection at once.
      failoverDetector: true,
      sentinelRetryStrategy: options.failFast ? () => null : reconnectDelay,
    });
  }
  return new Redis({ ...node, db, ...urlAddress(url) });
}

/** Where the queue lives, for logs: no credentials. */
export function describeRedis(settings: RedisSettings): Record<string, unknown> {
  const url = new URL(settings.url);
  const tls = url.protocol === 'rediss:';
  const common = {
    mode: settings.mode,
    tls,
    ...(tls ? { tlsVerify: settings.tls_verify, tlsCaFile: settings.tls_ca_file, tlsCertFile: settings.tls_cert_file } : {}),
    username: settings.username ?? (decodeURIComponent(url.username) || undefined),
    passwordConfigured: Boolean(settings.password ?? url.password),
  };
  if (settings.mode === 'cluster') return { ...common, nodes: (settings.cluster_nodes ?? [urlAddress(url)]).map(formatAddress) };
  if (settings.mode === 'sentinel') {
    return {
      ...common,
      master: settings.sentinel_master,
      sentinels: settings.sentinels?.map(formatAddress),
      sentinelTls: settings.sentinel_tls,
      sentinelPasswordConfigured: Boolean(settings.sentinel_password),
    };
  }
  return { ...common, url: redactUrl(settings.url) };
}

function withoutRetryStrategy({ retryStrategy: _ignored, ...options }: RedisOptions): RedisOptions {
  return options;
}

function urlAddress(url: URL): RedisAddress {
  // URL keeps IPv6 hosts in brackets; sockets want them bare.
  return { host: url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1', port: Number(url.port || 6379) };
}

function formatAddress(address: RedisAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** REDIS_TLS_CA_FILE adds to Node's trusted roots, so a managed Redis with a public certificate still connects. */
function tlsOptions(settings: RedisSettings): TlsOptions {
  return tlsConnectionOptions({
    verify: settings.tls_verify,
    caFiles: settings.tls_ca_file ? [settings.tls_ca_file] : [],
    clientCertFile: settings.tls_cert_file,
    clientKeyFile: settings.tls_key_file,
  });
}

/**
 * Why Redis refused this client, in words naming the variables to fix, or
 * undefined for a failure that a retry may cure (refused connection,
 * timeout, LOADING, a failover). Never quotes a secret: Redis' replies name
 * the user at most.
 */
export function describeRedisRejection(error: unknown): string | undefined {
  const reply = redisReply(error);
  const credentials = reply?.fromSentinel ? 'REDIS_SENTINEL_USERNAME / REDIS_SENTINEL_PASSWORD' : 'REDIS_USERNAME / REDIS_PASSWORD, or the user and password in REDIS_URL';
  if (reply?.code === 'WRONGPASS') return `Redis refused the credentials (WRONGPASS: wrong user name or password, or the user is disabled): check ${credentials}`;
  if (reply?.code === 'NOAUTH') return `Redis requires authentication (NOAUTH): set ${credentials}`;
  if (reply?.code === 'NOPERM') return `the Redis user lacks a permission (${reply.text}): grant it in the user's ACL (see docs/scaling.md, Redis topologies)`;
  // Only a failed check of Redis' certificate is a configuration error; other handshake failures are retried like an outage.
  const tls = classifyTlsFailure(error);
  if (!tls?.verification) return undefined;
  const { code, kind } = tls;
  if (kind === 'host-mismatch') return `TLS: Redis' certificate does not name the host it was reached at [${code}]`;
  if (kind === 'expired' || kind === 'not-yet-valid') return `TLS: Redis' certificate is expired or not yet valid [${code}]`;
  return `TLS: Redis' certificate is not trusted (set REDIS_TLS_CA_FILE to the CA that signed it, or REDIS_TLS_VERIFY=false) [${code}]`;
}

/** Logs one line per outage, and exits on a rejection before the first ready (a configuration error). */
function watchConnection(client: RedisClient, role: string, logger: Logger): void {
  let down = false;
  let readyOnce = false;
  const onError = (error: Error): void => {
    const rejection = describeRedisRejection(error);
    if (rejection && !readyOnce) {
      logger.fatal({ role, hint: rejection }, 'redis.rejected');
      process.exit(1);
    }
    if (down) return;
    down = true;
    logger.warn({ role, err: { message: error.message, code: (error as NodeJS.ErrnoException).code }, ...(rejection ? { reason: rejection } : {}) }, 'redis.unavailable');
  };
  client.on('error', onError);
  // A Cluster reports its nodes' errors apart (a failed master, a refused AUTH).
  if (client instanceof Cluster) client.on('node error', onError);
  client.on('ready', () => {
    readyOnce = true;
    if (down) logger.info({ role }, 'redis.recovered');
    down = false;
  });
}

/** What emits BullMQ's 'error' events: a Queue, a Worker. */
interface ErrorSource {
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * Logs the 'error' events of a BullMQ Queue or Worker as `event`. Without a
 * listener BullMQ prints each one to stderr, as a multi-line dump; and while
 * Redis is down each of its connections (a Worker's blocking one included)
 * reports every reconnect attempt. So identical errors are logged once until
 * `client` is ready again (the outage itself is `redis.unavailable`), and at
 * most once a minute while they last, with the count held back.
 */
export function logErrorEvents(source: ErrorSource, event: string, client: RedisClient, logger: Logger): void {
  const throttle = new RepeatThrottle();
  client.on('ready', () => throttle.reset());
  source.on('error', (error) => {
    const { code } = error as NodeJS.ErrnoException;
    const admitted = throttle.admit(`${String(code)} ${error.message}`);
    if (admitted) logger.error({ err: { type: error.name, message: error.message, code }, ...(admitted.repeated ? { repeated: admitted.repeated } : {}) }, event);
  });
}
