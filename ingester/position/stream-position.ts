import { compareStreamIds } from '../../shared/opencti/stream-id.js';

/** What the ingester commits to Redis together with every batch of jobs. */
export interface CursorSnapshot {
  /** Every frame with an id up to and including this one has been enqueued: the Last-Event-ID to resume from. */
  resumeFrom: string;
  /** The newest id seen; its group of frames may be incomplete. */
  openId?: string;
  /** Event ids already enqueued from the open group. */
  openEventIds: string[];
}

/**
 * Tracks which frames are safely enqueued, given that SSE ids are shared by a
 * group of frames (dependencies, then the event) and that the platform resumes
 * strictly after the id it is given. A group is known complete only when a
 * later id arrives, so the resume point trails one group behind; after a
 * reconnect the open group is sent again and its already-enqueued frames are
 * recognised by their event ids. Pure: no I/O.
 */
export class StreamPosition {
  #resumeFrom = '0-0';
  #openId: string | undefined;
  #openEventIds = new Set<string>();

  constructor(snapshot: CursorSnapshot) {
    this.rewind(snapshot);
  }

  /** Goes back to a committed position, for when Redis lost the later ones. */
  rewind(snapshot: CursorSnapshot): void {
    this.#resumeFrom = snapshot.resumeFrom;
    this.#openId = snapshot.openId;
    this.#openEventIds = new Set(snapshot.openEventIds);
  }

  get resumeFrom(): string {
    return this.#resumeFrom;
  }

  /** Records an event frame; false when it was already enqueued (a replay). */
  admit(streamId: string, eventId: string): boolean {
    if (compareStreamIds(streamId, this.#resumeFrom) <= 0) return false;
    if (this.#openId === undefined || compareStreamIds(streamId, this.#openId) > 0) {
      if (this.#openId !== undefined) this.#resumeFrom = this.#openId;
      this.#openId = streamId;
      this.#openEventIds = new Set([eventId]);
      return true;
    }
    if (streamId === this.#openId) {
      if (this.#openEventIds.has(eventId)) return false;
      this.#openEventIds.add(eventId);
    }
    // An id below the open group would be out of order; forward it anyway
    // (at least once) and never move the position backwards.
    return true;
  }

  /** A heartbeat past the open group closes it: the platform has moved on. Returns true when the position moved. */
  heartbeat(streamId: string): boolean {
    if (compareStreamIds(streamId, this.#openId ?? this.#resumeFrom) <= 0) return false;
    this.#resumeFrom = streamId;
    this.#openId = undefined;
    this.#openEventIds = new Set();
    return true;
  }

  snapshot(): CursorSnapshot {
    return {
      resumeFrom: this.#resumeFrom,
      ...(this.#openId === undefined ? {} : { openId: this.#openId }),
      openEventIds: [...this.#openEventIds],
    };
  }
}
