import type { Redis } from 'ioredis';
import type { CursorSnapshot } from './stream-position.js';

/**
 * The committed stream position, one Redis hash. It is written only inside
 * the same MULTI as the jobs it covers (see enqueuer.ts), so Redis never holds
 * a position ahead of the queue, nor jobs the position does not account for.
 */
export class CursorStore {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  async load(): Promise<CursorSnapshot | undefined> {
    const stored = await this.redis.hgetall(this.key);
    if (!stored.resumeFrom) return undefined;
    return {
      resumeFrom: stored.resumeFrom,
      ...(stored.openId ? { openId: stored.openId } : {}),
      openEventIds: stored.openEventIds ? stored.openEventIds.split(' ') : [],
    };
  }

  /** Adds the write of `snapshot` to a transaction. */
  write(transaction: { hset(key: string, fields: Record<string, string>): unknown }, snapshot: CursorSnapshot): void {
    transaction.hset(this.key, {
      resumeFrom: snapshot.resumeFrom,
      openId: snapshot.openId ?? '',
      openEventIds: snapshot.openEventIds.join(' '),
    });
  }
}
