/**
 * The lean webhook receiver, run in its own worker thread (see receiver.ts). It keeps only what
 * the benchmark needs per request (SSE id, answer time, body length, URL path), so 100,000 × 4 KB
 * bodies do not sit in the heap, and it answers on its own event loop, so it is not slowed down
 * by the emulator or the ceiling client on the main thread. Several destinations point at it
 * under distinct paths: it counts per path, and can answer 503 on one path for a while (an
 * outage of that destination only).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import { nowMs } from './clock.js';
import type { ReceiverCommand, ReceiverReply } from './receiver.js';

const OK_BODY = '{"ok":true}';
const OK_HEADERS = { 'content-type': 'application/json', 'content-length': String(OK_BODY.length) };
const DOWN_BODY = '{"error":"unavailable"}';
const DOWN_HEADERS = { 'content-type': 'application/json', 'content-length': String(DOWN_BODY.length) };

/** One URL path (one destination): its distinct ids answered 2xx and its 503 answers. */
interface PathState {
  index: number;
  unique: Set<string>;
  rejected: number;
  /** Answer 503 until this time ({@link nowMs} clock); 0 = healthy. */
  downUntil: number;
}

let delayMs = 0;
let ids: string[] = [];
let at: number[] = [];
let lengths: number[] = [];
let pathIndexes: number[] = [];
let unique = new Set<string>();
let paths = new Map<string, PathState>();
let errors = 0;
let waiting: Array<{ n: number; seq: number; path: string | undefined }> = [];
let elu = performance.eventLoopUtilization();

const port = parentPort;
if (port === null) throw new Error('receiver-worker must run as a worker thread');

const server = createServer({ keepAliveTimeout: 60_000, requestTimeout: 0, headersTimeout: 60_000 }, handle);
server.listen(0, '127.0.0.1', () => {
  const { port: tcpPort } = server.address() as AddressInfo;
  send({ type: 'listening', port: tcpPort });
});

function send(reply: ReceiverReply, transfer: ArrayBuffer[] = []): void {
  port?.postMessage(reply, transfer);
}

function pathState(path: string): PathState {
  let state = paths.get(path);
  if (state === undefined) {
    state = { index: paths.size, unique: new Set(), rejected: 0, downUntil: 0 };
    paths.set(path, state);
  }
  return state;
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  let length = 0;
  req.on('data', (chunk: Buffer) => {
    length += chunk.length;
  });
  req.on('error', () => {
    errors += 1;
  });
  req.on('end', () => {
    const header = req.headers['x-opencti-event-id'];
    const id = typeof header === 'string' ? header : '';
    const path = pathState(req.url ?? '/');
    if (path.downUntil > 0 && nowMs() < path.downUntil) {
      path.rejected += 1;
      res.writeHead(503, DOWN_HEADERS);
      res.end(DOWN_BODY);
      return;
    }
    if (delayMs > 0) setTimeout(() => answer(res, id, length, path), delayMs);
    else answer(res, id, length, path);
  });
}

function answer(res: ServerResponse, id: string, length: number, path: PathState): void {
  if (res.destroyed) {
    errors += 1;
    return;
  }
  res.writeHead(200, OK_HEADERS);
  res.end(OK_BODY);
  const t = nowMs();
  ids.push(id);
  at.push(t);
  lengths.push(length);
  pathIndexes.push(path.index);
  unique.add(id);
  path.unique.add(id);
  if (waiting.length > 0) settleWaits(t);
}

function uniqueOn(path: string | undefined): number {
  return path === undefined ? unique.size : (paths.get(path)?.unique.size ?? 0);
}

function settleWaits(t: number): void {
  waiting = waiting.filter((w) => {
    const reached = uniqueOn(w.path);
    if (reached < w.n) return true;
    send({ type: 'reached', seq: w.seq, at: t, unique: reached });
    return false;
  });
}

function perPath(pick: (state: PathState) => number): Record<string, number> {
  return Object.fromEntries([...paths].map(([path, state]) => [path, pick(state)]));
}

port.on('message', (command: ReceiverCommand) => {
  switch (command.type) {
    case 'reset':
      delayMs = command.delayMs;
      ids = [];
      at = [];
      lengths = [];
      pathIndexes = [];
      unique = new Set();
      paths = new Map();
      errors = 0;
      waiting = [];
      elu = performance.eventLoopUtilization();
      send({ type: 'done', seq: command.seq });
      return;
    case 'outage':
      pathState(command.path).downUntil = command.untilMs;
      send({ type: 'done', seq: command.seq });
      return;
    case 'await': {
      const reached = uniqueOn(command.path);
      if (reached >= command.n) send({ type: 'reached', seq: command.seq, at: at[at.length - 1] ?? nowMs(), unique: reached });
      else waiting.push({ n: command.n, seq: command.seq, path: command.path });
      return;
    }
    case 'progress':
      send({ type: 'progress', seq: command.seq, requests: ids.length, unique: uniqueOn(command.path), errors, rejected: perPath((s) => s.rejected) });
      return;
    case 'collect': {
      const times = Float64Array.from(at);
      const sizes = Uint32Array.from(lengths);
      const indexes = Uint8Array.from(pathIndexes);
      const used = performance.eventLoopUtilization(elu);
      send(
        {
          type: 'records',
          seq: command.seq,
          ids,
          at: times,
          lengths: sizes,
          pathIndexes: indexes,
          paths: [...paths.keys()],
          uniqueByPath: perPath((s) => s.unique.size),
          rejectedByPath: perPath((s) => s.rejected),
          unique: unique.size,
          errors,
          elu: used.utilization,
        },
        [times.buffer, sizes.buffer, indexes.buffer],
      );
      return;
    }
    case 'close':
      server.closeAllConnections();
      server.close(() => {
        send({ type: 'done', seq: command.seq });
        port.close();
      });
      return;
  }
});
