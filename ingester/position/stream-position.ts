import { compareStreamIdParts, streamIdParts, type StreamIdParts } from '../../shared/opencti/stream-id.js';

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
  // Ids are kept parsed as well: every frame is compared with them.
  #resume: ParsedId = { id: '0-0', at: { ms: 0, seq: 0 } };
  #open: ParsedId | undefined;
  #openEventIds = new Set<string>();

  constructor(snapshot: CursorSnapshot) {
    this.rewind(snapshot);
  }

  /** Goes back to a committed position, for when Redis lost the later ones. */
  rewind(snapshot: CursorSnapshot): void {
    this.#resume = parsed(snapshot.resumeFrom);
    this.#open = snapshot.openId === undefined ? undefined : parsed(snapshot.openId);
    this.#openEventIds = new Set(snapshot.openEventIds);
  }

  get resumeFrom(): string {
    return this.#resume.id;
  }

  /** Records an event frame; false when it was already enqueued (a replay). `at`: `streamId` parsed, if the caller has it. */
  admit(streamId: string, eventId: string, at = streamIdParts(streamId)): boolean {
    if (compareStreamIdParts(at, this.#resume.at) <= 0) return false;
    if (this.#open === undefined || compareStreamIdParts(at, this.#open.at) > 0) {
      if (this.#open !== undefined) this.#resume = this.#open;
      this.#open = { id: streamId, at };
      this.#openEventIds = new Set([eventId]);
      return true;
    }
    if (streamId === this.#open.id) {
      if (this.#openEventIds.has(eventId)) return false;
      this.#openEventIds.add(eventId);
    }
    // An id below the open group would be out of order; forward it anyway
    // (at least once) and never move the position backwards.
    return true;
  }

  /** A heartbeat past the open group closes it: the platform has moved on. Returns true when the position moved. */
  heartbeat(streamId: string, at = streamIdParts(streamId)): boolean {
    if (compareStreamIdParts(at, (this.#open ?? this.#resume).at) <= 0) return false;
    this.#resume = { id: streamId, at };
    this.#open = undefined;
    this.#openEventIds = new Set();
    return true;
  }

  snapshot(): CursorSnapshot {
    return {
      resumeFrom: this.#resume.id,
      ...(this.#open === undefined ? {} : { openId: this.#open.id }),
      openEventIds: [...this.#openEventIds],
    };
  }
}

interface ParsedId {
  id: string;
  at: StreamIdParts;
}

function parsed(id: string): ParsedId {
  return { id, at: streamIdParts(id) };
}
