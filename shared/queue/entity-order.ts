/**
 * Per-entity ordering (WEBHOOK_ORDERING=entity): the contract between the
 * ingester, which lines each event up behind the earlier events of the same
 * STIX object, and the dispatchers, which deliver only the front of each line
 * (see dispatcher/delivery/entity-order.ts).
 *
 * One line is a Redis sorted set per object, under the connector's hash-tagged
 * queue prefix (one Redis Cluster slot with the queue). Every member has score
 * 0, so the set sorts by member bytes; a member starts with the event's SSE id
 * encoded so that byte order is stream order, and ends with the job id.
 */

/**
 * A line expires this long after its newest event was queued. Normally a line
 * disappears with its last event; this only bounds what a crash leaves behind
 * (a dispatcher killed between recording a 2xx and releasing the event, when
 * no later event of the object comes to skip it). The price: events of an
 * object held back longer than this (an outage of more than a week) lose
 * their order, never their delivery.
 */
export const LINE_TTL_SECONDS = 7 * 24 * 3600;

/** The line of one STIX object (`data.id`). */
export function entityOrderKey(orderScope: string, entity: string): string {
  return `${orderScope}:order:${entity}`;
}

/**
 * The member of one event in its object's line. `<ms>-<seq>` becomes each
 * number prefixed with its length in two digits (`9-0` → `019010`,
 * `10-0` → `0210010`), so that byte order is numeric order whatever the
 * lengths. Events of one object never share an SSE id in practice (an id
 * groups one event with its dependencies, which are other objects); if they
 * did, the job id would break the tie.
 */
export function entityOrderMember(streamId: string, jobId: string): string {
  const dash = streamId.indexOf('-');
  return `${sortable(streamId.slice(0, dash))}${sortable(streamId.slice(dash + 1))}:${jobId}`;
}

function sortable(digits: string): string {
  const trimmed = digits.replace(/^0+(?=\d)/, '');
  return `${String(trimmed.length).padStart(2, '0')}${trimmed}`;
}
