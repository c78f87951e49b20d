import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { queuePrefix } from '../../shared/queue/contract.js';

/** Redis key of the lease: whoever holds it reads the stream. Expires unless its holder renews it. */
export function leaseKey(connectorId: string): string {
  return `${queuePrefix(connectorId)}:ingester-lease`;
}

/**
 * Redis key of the current leadership term, `<epoch> <owner>`; it changes on
 * every acquisition and on nothing else (renewals touch only the lease), so
 * commits WATCH it. It never expires: the epoch only grows.
 */
export function termKey(connectorId: string): string {
  return `${queuePrefix(connectorId)}:ingester-term`;
}

/** The commands the lease needs; a standalone Redis connection and a Cluster both have them. */
export interface LeaseRedis {
  eval(script: string, numKeys: number, ...args: Array<string | number>): Promise<unknown>;
  get(key: string): Promise<string | null>;
}

/** One leadership: its epoch and the token (`<epoch> <owner>`) found in both keys while it lasts. */
export interface LeaseTerm {
  epoch: number;
  token: string;
}

// KEYS: lease, term. ARGV: owner, ttl ms. Both keys share the connector's hash tag (one Cluster slot).
// The epoch is parsed back from the term key, so it keeps growing even though the key holds a string.
const ACQUIRE = `
if redis.call('exists', KEYS[1]) == 1 then return false end
local previous = redis.call('get', KEYS[2])
local epoch = (previous and tonumber(string.match(previous, '^%d+')) or 0) + 1
local token = epoch .. ' ' .. ARGV[1]
redis.call('set', KEYS[2], token)
redis.call('set', KEYS[1], token, 'PX', ARGV[2])
return token`;

// KEYS: lease, term. ARGV: token, ttl ms.
// Both keys gone means Redis lost its data (restarted without persistence):
// nobody took over, so the term goes on and the enqueuer's lost-writes check
// decides where to read from, as with a single ingester.
const RENEW = `
local held = redis.call('get', KEYS[1])
if held == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
if held or redis.call('exists', KEYS[2]) == 1 then return 0 end
redis.call('set', KEYS[2], ARGV[1])
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

// KEYS: lease. ARGV: token.
const RELEASE = `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('del', KEYS[1])`;

/**
 * The leader lease of one connector's ingesters, in Redis: acquired only when
 * free (no holder, or its holder stopped renewing for `ttlMs`), renewed and
 * released only by its holder. Each acquisition starts a new term with a
 * higher epoch; commits are fenced on the term (see `holdsTerm`), so a paused
 * leader that lost the lease cannot write any more, whatever its clock says.
 */
export class Lease {
  /** Who this process is, in logs and in the keys: host, pid and a random part (pids repeat across containers). */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

  constructor(
    private readonly redis: LeaseRedis,
    private readonly keys: { lease: string; term: string },
    readonly ttlMs: number,
  ) {}

  /** Takes the lease if it is free; undefined while another ingester holds it. */
  async tryAcquire(): Promise<LeaseTerm | undefined> {
    const token = await this.redis.eval(ACQUIRE, 2, this.keys.lease, this.keys.term, this.owner, this.ttlMs);
    return typeof token === 'string' ? { epoch: Number.parseInt(token, 10), token } : undefined;
  }

  /** Extends the lease by `ttlMs` from now; false if it is no longer ours. */
  async renew(term: LeaseTerm): Promise<boolean> {
    return (await this.redis.eval(RENEW, 2, this.keys.lease, this.keys.term, term.token, this.ttlMs)) === 1;
  }

  /** Frees the lease at once (if still ours) so that a standby takes over without waiting for it to expire. */
  async release(term: LeaseTerm): Promise<boolean> {
    return (await this.redis.eval(RELEASE, 1, this.keys.lease, term.token)) === 1;
  }

  /** The current holder's token, for logs; undefined when free. */
  async holder(): Promise<string | undefined> {
    return (await this.redis.get(this.keys.lease)) ?? undefined;
  }
}

/** The commands a commit fence needs on the commit connection. */
export interface FenceRedis {
  watch(...keys: string[]): Promise<unknown>;
  unwatch(): Promise<unknown>;
  get(key: string): Promise<string | null>;
}

/**
 * Makes a commit conditional on `term` still being the current one. Run on
 * the connection that then sends the MULTI: WATCH the term key, read it;
 * true means the term is ours and any takeover from now on makes the EXEC
 * return null. WATCH is per connection, so nothing else may use that one.
 */
export function termFence(redis: FenceRedis, termKeyName: string, lease: Lease, term: LeaseTerm): () => Promise<boolean> {
  const watchTerm = async () => (await Promise.all([redis.watch(termKeyName), redis.get(termKeyName)]))[1];
  return async () => {
    let current = await watchTerm();
    if (current === null) {
      // Redis lost its data: renewing restores the term unless another ingester took over meanwhile.
      // Unwatch first: our own write would otherwise abort the commit.
      await redis.unwatch();
      if (await lease.renew(term)) current = await watchTerm();
    }
    if (current === term.token) return true;
    await redis.unwatch();
    return false;
  };
}
