/**
 * Reads the id of the STIX object an OpenCTI event is about (`data.id`,
 * `<type>--<uuid>`) from the raw body. OpenCTI writes it near the start of
 * the envelope, so a scan of the first few hundred bytes finds it without
 * parsing bodies of up to hundreds of kilobytes; anything unusual falls back
 * to JSON.parse. Used by the entity filter (its type) and by per-entity
 * ordering (the whole id).
 */
const DATA_ID = '"data":{"id":"';
/** What the fast path accepts as an id; anything else (escapes, odd characters) is parsed. */
const PLAIN_STIX_ID = /^[a-z0-9]+(?:-[a-z0-9]+)*--[0-9a-z-]{1,64}$/;
/** Longest id taken from a parsed body: it becomes part of a Redis key. */
const MAX_ID_LENGTH = 512;

/** `data.id` of the event, or undefined when the body has none. */
export function stixIdOf(body: string): string | undefined {
  const at = dataIdAt(body);
  if (at !== undefined) {
    const end = body.indexOf('"', at);
    const id = body.slice(at, end);
    if (end > at && PLAIN_STIX_ID.test(id)) return id;
  }
  const id = parsedData(body)?.id;
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_ID_LENGTH ? id : undefined;
}

/**
 * Where the value of the envelope's own `data.id` starts: the first
 * `"data":{"id":"` is the envelope's only if it sits at depth 1, which a
 * scan of the bytes before it tells (strings skipped). Undefined otherwise.
 */
export function dataIdAt(body: string): number | undefined {
  const at = body.indexOf(DATA_ID);
  return at > 0 && depthAt(body, at) === 1 ? at + DATA_ID.length : undefined;
}

/** The envelope's `data` object, parsed; undefined when the body is not JSON or has none. */
export function parsedData(body: string): { id?: unknown; type?: unknown } | undefined {
  let data: unknown;
  try {
    data = (JSON.parse(body) as { data?: unknown } | null)?.data;
  } catch {
    return undefined;
  }
  return typeof data === 'object' && data !== null ? data : undefined;
}

/** Object/array nesting depth at `end` (outside strings), counting from the start of `text`. */
function depthAt(text: string, end: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < end; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) depth += 1;
    else if (c === 0x7d || c === 0x5d) depth -= 1;
  }
  return inString ? -1 : depth;
}
