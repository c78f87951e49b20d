import type { IRedisTransaction } from 'bullmq';
import { LINE_TTL_SECONDS, entityOrderKey, entityOrderMember } from '../../shared/queue/entity-order.js';
import type { PendingEvent } from './job-packing.js';

/**
 * WEBHOOK_ORDERING=entity: puts each event that names its STIX object at the
 * end of that object's line, in the transaction that adds its job and commits
 * the stream position, so a job never exists without its place in line.
 * ZADD NX and members derived from the SSE id keep a retried or replayed
 * write harmless: the place is the same. Events without `entity` (ordering
 * off, or no `data.id`) are not lined up and go out unordered.
 */
export function lineUpEntities(transaction: Pick<IRedisTransaction, 'runCommand'>, orderScope: string, batch: readonly PendingEvent[]): void {
  for (const { eventId, job } of batch) {
    if (job.entity === undefined) continue;
    const key = entityOrderKey(orderScope, job.entity);
    transaction.runCommand('zadd', [key, 'NX', 0, entityOrderMember(job.streamId, eventId)]);
    transaction.runCommand('expire', [key, LINE_TTL_SECONDS]);
  }
}
