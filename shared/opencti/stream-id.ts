/**
 * OpenCTI stream ids are Redis stream ids, `<ms>-<seq>`. They are ordered by
 * milliseconds, then sequence; string comparison would put 9-0 after 10-0.
 */
const STREAM_ID = /^(\d{1,16})-(\d{1,16})$/;

export function isStreamId(text: string): boolean {
  return STREAM_ID.test(text);
}

export function compareStreamIds(a: string, b: string): number {
  const [msA, seqA] = parts(a);
  const [msB, seqB] = parts(b);
  return msA - msB || seqA - seqB;
}

export function streamIdMs(id: string): number {
  return parts(id)[0];
}

function parts(id: string): [number, number] {
  const dash = id.indexOf('-');
  return [Number(id.slice(0, dash)), Number(id.slice(dash + 1))];
}
