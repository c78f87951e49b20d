/**
 * An HTTP receiver that answers like Splunk's HTTP Event Collector
 * (destination-formats.md §4), for tests of the splunk-hec format: it checks
 * the token and every envelope of the request (objects concatenated, no
 * array), answers with HEC's codes, and keeps the events it accepted.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HecAnswer {
  status: number;
  body: { text: string; code: number; 'invalid-event-number'?: number };
}

export interface HecEnvelope {
  time?: number;
  host?: string;
  source?: string;
  sourcetype?: string;
  index?: string;
  event: unknown;
  fields?: Record<string, string | string[]>;
}

const SUCCESS: HecAnswer = { status: 200, body: { text: 'Success', code: 0 } };
/** Later than this, a `time` is milliseconds (year 5138 in seconds), which HEC would misfile. */
const MAX_SECONDS = 1e11;

const invalid = (index: number): HecAnswer => ({ status: 400, body: { text: 'Invalid data format', code: 6, 'invalid-event-number': index } });

/**
 * HEC's verdict on a request body, and the envelopes when it accepts them.
 * Stricter than HEC in one way: `time` must be a number of seconds.
 */
export function checkHecBody(body: string): { answer: HecAnswer; envelopes: HecEnvelope[] } {
  const texts = splitObjects(body);
  if (texts === undefined) return { answer: invalid(0), envelopes: [] };
  if (texts.length === 0) return { answer: { status: 400, body: { text: 'No data', code: 5 } }, envelopes: [] };
  const envelopes: HecEnvelope[] = [];
  for (const [index, text] of texts.entries()) {
    let envelope: unknown;
    try {
      envelope = JSON.parse(text);
    } catch {
      return { answer: invalid(index), envelopes: [] };
    }
    const record = envelope as Record<string, unknown>;
    if (!('event' in record)) return { answer: { status: 400, body: { text: 'Event field is required', code: 12, 'invalid-event-number': index } }, envelopes: [] };
    if (record['event'] === '' || record['event'] === null) return { answer: { status: 400, body: { text: 'Event field cannot be blank', code: 13, 'invalid-event-number': index } }, envelopes: [] };
    const time = record['time'];
    if (time !== undefined && (typeof time !== 'number' || !(time > 0 && time < MAX_SECONDS))) return { answer: invalid(index), envelopes: [] };
    for (const key of ['host', 'source', 'sourcetype', 'index'] as const) {
      if (record[key] !== undefined && typeof record[key] !== 'string') return { answer: invalid(index), envelopes: [] };
    }
    if (record['fields'] !== undefined && !flatFields(record['fields'])) {
      return { answer: { status: 400, body: { text: 'Error in handling indexed fields', code: 15, 'invalid-event-number': index } }, envelopes: [] };
    }
    envelopes.push(record as unknown as HecEnvelope);
  }
  return { answer: SUCCESS, envelopes };
}

/** Indexed fields are flat: string or string-list values only. */
function flatFields(fields: unknown): boolean {
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return false;
  return Object.values(fields).every((value) => typeof value === 'string' || (Array.isArray(value) && value.every((item) => typeof item === 'string')));
}

/** The top-level JSON objects of a batch (`{…}{…}`, whitespace between), undefined when it is anything else. */
function splitObjects(body: string): string[] | undefined {
  const objects: string[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < body.length; i += 1) {
    const c = body[i]!;
    if (inString) {
      if (c === '\\') i += 1;
      else if (c === '"') inString = false;
      continue;
    }
    if (depth === 0) {
      if (/\s/.test(c)) continue;
      if (c !== '{') return undefined;
      start = i;
    }
    if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth += 1;
    else if (c === '}' || c === ']') {
      depth -= 1;
      if (depth === 0) objects.push(body.slice(start, i + 1));
    }
  }
  return depth === 0 && !inString ? objects : undefined;
}

export interface SplunkHecReceiver {
  /** `http://127.0.0.1:<port>/services/collector/event`. */
  readonly url: string;
  /** Envelopes accepted so far, in order. */
  readonly events: HecEnvelope[];
  close(): Promise<void>;
}

/** Listens on 127.0.0.1, port 0; requires `Authorization: Splunk <token>`. */
export async function startSplunkHecReceiver(token: string): Promise<SplunkHecReceiver> {
  const events: HecEnvelope[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const answer = authorize(req.headers.authorization, token) ?? route(req.method, req.url) ?? accept(Buffer.concat(chunks).toString('utf8'), events);
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(JSON.stringify(answer.body));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/services/collector/event`,
    events,
    close: () => new Promise((resolve, reject) => server.close((error) => (error ? reject(error) : resolve()))),
  };
}

function authorize(header: string | undefined, token: string): HecAnswer | undefined {
  if (header === undefined) return { status: 401, body: { text: 'Token is required', code: 2 } };
  const match = /^Splunk (\S+)$/.exec(header);
  if (match === null) return { status: 401, body: { text: 'Invalid authorization', code: 3 } };
  return match[1] === token ? undefined : { status: 403, body: { text: 'Invalid token', code: 4 } };
}

function route(method: string | undefined, url: string | undefined): HecAnswer | undefined {
  if (method === 'POST' && url?.split('?')[0] === '/services/collector/event') return undefined;
  return { status: 404, body: { text: 'The requested URL was not found on this server.', code: 404 } };
}

function accept(body: string, events: HecEnvelope[]): HecAnswer {
  const { answer, envelopes } = checkHecBody(body);
  if (answer.body.code === 0) events.push(...envelopes);
  return answer;
}
