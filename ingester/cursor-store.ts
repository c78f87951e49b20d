import type { Redis } from 'ioredis';
import type { CursorSnapshot } from './stream-position.js';

/** The position as Redis holds it, with the number of the commit that wrote it. */
export interface StoredCursor {
  snapshot: CursorSnapshot;
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
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  async load(): Promise<StoredCursor | undefined> {
    return parseCursor(await this.redis.hgetall(this.key));
  }

  /** Adds "read the stored cursor, then write `snapshot` as commit `commit`" to a transaction; the read is its first reply. */
  write(transaction: CursorTransaction, snapshot: CursorSnapshot, commit: number): void {
    transaction.hgetall(this.key);
    transaction.hset(this.key, {
      resumeFrom: snapshot.resumeFrom,
      openId: snapshot.openId ?? '',
      openEventIds: snapshot.openEventIds.join(' '),
      commit: String(commit),
    });
  }
}

export function parseCursor(stored: unknown): StoredCursor | undefined {
  const fields = (stored ?? {}) as Record<string, string | undefined>;
  if (!fields.resumeFrom) return undefined;
  return {
    snapshot: {
      resumeFrom: fields.resumeFrom,
      ...(fields.openId ? { openId: fields.openId } : {}),
      openEventIds: fields.openEventIds ? fields.openEventIds.split(' ') : [],
    },
    commit: Number(fields.commit ?? 0),
  };
}
