import type { RedisClient } from '../shared/redis.js';
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
export interface CursorTransaction {
  hgetall(key: string): unknown;
  hset(key: string, fields: Record<string, string>): unknown;
}

/**
 * The committed stream position, one Redis hash. It is written only inside
 * the same MULTI as the jobs it covers (see enqueuer.ts), so Redis never holds
 * a position ahead of the queue, nor jobs the position does not account for.
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

  /** Adds "read the stored cursor, then write `cursor` as commit `commit`" to a transaction; the read is its first reply. */
  write(transaction: CursorTransaction, cursor: Cursor, commit: number): void {
    transaction.hgetall(this.key);
    transaction.hset(this.key, {
      resumeFrom: cursor.resumeFrom,
      openId: cursor.openId ?? '',
      openEventIds: cursor.openEventIds.join(' '),
      recoverUntil: cursor.recoverUntil === false ? 'false' : cursor.recoverUntil,
      generation: String(cursor.generation),
      commit: String(commit),
    });
  }
}

export function parseCursor(stored: unknown): StoredCursor | undefined {
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
