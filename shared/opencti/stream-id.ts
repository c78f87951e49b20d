/**
 * OpenCTI stream ids are Redis stream ids, `<ms>-<seq>`. They are ordered by
 * milliseconds, then sequence; string comparison would put 9-0 after 10-0.
 */
const STREAM_ID = /^(\d{1,16})-(\d{1,16})$/;

/** The two numbers of a stream id, so that a hot path compares ids without parsing them again. */
export interface StreamIdParts {
  ms: number;
  seq: number;
}

/** The numbers of `text` if it is a stream id; undefined otherwise. Checks and parses in one pass. */
export function parseStreamId(text: string): StreamIdParts | undefined {
  const match = STREAM_ID.exec(text);
  return match ? { ms: Number(match[1]), seq: Number(match[2]) } : undefined;
}

export function isStreamId(text: string): boolean {
  return STREAM_ID.test(text);
}

export function compareStreamIds(a: string, b: string): number {
  return compareStreamIdParts(streamIdParts(a), streamIdParts(b));
}

export function compareStreamIdParts(a: StreamIdParts, b: StreamIdParts): number {
  return a.ms - b.ms || a.seq - b.seq;
}

export function streamIdMs(id: string): number {
  return streamIdParts(id).ms;
}

/** The numbers of an id already known to be a stream id, unchecked. */
export function streamIdParts(id: string): StreamIdParts {
  const dash = id.indexOf('-');
  return { ms: Number(id.slice(0, dash)), seq: Number(id.slice(dash + 1)) };
}
