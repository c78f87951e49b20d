import type { IRedisTransaction } from 'bullmq';
import type { RedisClient } from '../../shared/redis/client.js';
import type { CursorSnapshot } from './stream-position.js';

/** How the stream is read, besides the position; changes only when the position is reset. */
export interface ReadingSettings {
  /** pycti's recover_until: the `?recover=` date sent on every connection, or false. */
  recoverUntil: string | false;
  /**
   * How many times the connector state was reset in OpenCTI. It is part of
   * every event id (see frame.ts), so events read again after a reset are
   * queued and delivered again instead of being taken for duplicates.
   */
  generation: number;
}

/** Everything committed with each batch of jobs. */
export interface Cursor extends CursorSnapshot, ReadingSettings {}

/** The cursor as Redis holds it, with the number of the commit that wrote it. */
export interface StoredCursor {
  cursor: Cursor;
  commit: number;
}

/** The part of a Redis transaction the cursor needs. */
export type CursorTransaction = Pick<IRedisTransaction, 'runCommand'>;

/** What a cursor write found and did (its reply in the transaction, see `parseCursorWrite`). */
export interface CursorWrite {
  /** False: a job of the commit was missing, and the cursor was left as it was. */
  written: boolean;
  /** The cursor as it was just before. */
  before: StoredCursor | undefined;
}

/**
 * The cursor write of a commit: reads the hash, then writes it only if the
 * hash of every job of the commit exists. It runs inside the commit's MULTI,
 * after the jobs' inserts, and nothing else runs between the commands of an
 * EXEC: a job whose insert failed (NOSCRIPT after a failover or SCRIPT
 * FLUSH, OOM in its script) keeps the position where it was, whatever
 * happens to this process before its retry. Sent as EVAL with its text, not
 * EVALSHA, so that it never fails with NOSCRIPT itself. One EXISTS per 500
 * keys: one per key costs twice as much, and unpack is bounded by Lua's stack.
 *   KEYS[1] the cursor, KEYS[2..] the commit's job hashes; ARGV field, value, …
 */
const WRITE_IF_JOBS_EXIST = `
local before = redis.call('HGETALL', KEYS[1])
for first = 2, #KEYS, 500 do
  local last = math.min(first + 499, #KEYS)
  if redis.call('EXISTS', unpack(KEYS, first, last)) ~= last - first + 1 then return {0, before} end
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return {1, before}`;

/**
 * The committed stream position, one Redis hash. It is written only inside
 * the same MULTI as the jobs it covers (see commit/enqueuer.ts), and only when they
 * exist, so Redis never holds a position ahead of the queue, even though
 * MULTI does not roll back a failed command.
 * Each write also reads the hash as it was just before, so the ingester can
 * tell when Redis lost its last writes (a restart after a crash with
 * `appendfsync everysec`, or without persistence).
 */
export class CursorStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
  ) {}

  async load(): Promise<StoredCursor | undefined> {
    return parseCursor(await this.redis.hgetall(this.key));
  }

  /**
   * Adds "read the stored cursor, then write `cursor` as commit `commit` if
   * every key of `jobKeys` exists" to a transaction, as one command whose
   * reply `parseCursorWrite` reads.
   */
  write(transaction: CursorTransaction, cursor: Cursor, commit: number, jobKeys: readonly string[]): void {
    const fields = {
      resumeFrom: cursor.resumeFrom,
      openId: cursor.openId ?? '',
      openEventIds: cursor.openEventIds.join(' '),
      recoverUntil: cursor.recoverUntil === false ? 'false' : cursor.recoverUntil,
      generation: String(cursor.generation),
      commit: String(commit),
    };
    transaction.runCommand('eval', [WRITE_IF_JOBS_EXIST, 1 + jobKeys.length, this.key, ...jobKeys, ...Object.entries(fields).flat()]);
  }
}

/** Reads the reply of a `CursorStore.write`. */
export function parseCursorWrite(reply: unknown): CursorWrite {
  const [written, flat] = reply as [number, string[]];
  const before: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) before[flat[i]!] = flat[i + 1]!;
  return { written: written === 1, before: parseCursor(before) };
}

function parseCursor(stored: unknown): StoredCursor | undefined {
  const fields = (stored ?? {}) as Record<string, string | undefined>;
  if (!fields.resumeFrom) return undefined;
  return {
    cursor: {
      resumeFrom: fields.resumeFrom,
      ...(fields.openId ? { openId: fields.openId } : {}),
      openEventIds: fields.openEventIds ? fields.openEventIds.split(' ') : [],
      // Cursors written before recover mode existed never recovered.
      recoverUntil: fields.recoverUntil && fields.recoverUntil !== 'false' ? fields.recoverUntil : false,
      generation: Number(fields.generation ?? 0),
    },
    commit: Number(fields.commit ?? 0),
  };
}
