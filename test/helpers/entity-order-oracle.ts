/**
 * The oracle of per-entity ordering: for every STIX object (`data.id`), each
 * of its events reached the webhook only after the endpoint had answered 2xx
 * to the object's previous event in stream order (or, for events listed in
 * `deadLettered`, after its last failed answer). Uses the order in which the
 * recording receiver saw requests arrive and answers leave, never clocks.
 */
import { eventId } from '../../ingester/stream/frame.js';
import { compareStreamIds } from '../../shared/opencti/stream-id.js';
import type { RecordedRequest } from './recording-receiver.js';
import type { EmittedFrame } from './stream-emulator.js';

export interface OrderReport {
  entities: number;
  /** Events that had an earlier event of their object, i.e. that had to wait for one. */
  constrained: number;
  violations: string[];
}

export function checkEntityOrder(published: readonly EmittedFrame[], requests: readonly RecordedRequest[], deadLettered: ReadonlySet<string> = new Set()): OrderReport {
  const byEntity = new Map<string, Array<{ streamId: string; webhookId: string }>>();
  for (const frame of published) {
    const entity = (JSON.parse(frame.data) as { data: { id: string } }).data.id;
    const list = byEntity.get(entity) ?? [];
    list.push({ streamId: frame.id, webhookId: eventId(frame.event, frame.id, frame.data) });
    byEntity.set(entity, list);
  }
  const requestsById = new Map<string, RecordedRequest[]>();
  for (const request of requests) {
    const id = String(request.headers['webhook-id']);
    requestsById.set(id, [...(requestsById.get(id) ?? []), request]);
  }
  const violations: string[] = [];
  let constrained = 0;
  for (const [entity, events] of byEntity) {
    events.sort((a, b) => compareStreamIds(a.streamId, b.streamId));
    for (let k = 1; k < events.length; k += 1) {
      const previous = events[k - 1]!;
      const current = events[k]!;
      constrained += 1;
      const answers = (requestsById.get(previous.webhookId) ?? []).filter((r) => r.answeredBefore !== undefined);
      const released = deadLettered.has(previous.webhookId) ? answers : answers.filter((r) => r.status! >= 200 && r.status! < 300);
      // The release: the first 2xx, or for a dead letter its last answer.
      const releasedAt = deadLettered.has(previous.webhookId) ? Math.max(...released.map((r) => r.answeredBefore!)) : Math.min(...released.map((r) => r.answeredBefore!));
      for (const request of requestsById.get(current.webhookId) ?? []) {
        if (released.length === 0 || request.index < releasedAt) {
          violations.push(`${entity}: ${current.streamId} was sent before ${previous.streamId} was ${deadLettered.has(previous.webhookId) ? 'dead-lettered' : 'acknowledged'}`);
        }
      }
    }
  }
  return { entities: byEntity.size, constrained, violations };
}
