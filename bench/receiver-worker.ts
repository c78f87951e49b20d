/**
 * The lean webhook receiver, run in its own worker thread (see receiver.ts). It keeps only what
 * the benchmark needs per request (SSE id, answer time, body length), so 100,000 × 4 KB bodies do
 * not sit in the heap, and it answers on its own event loop, so it is not slowed down by the
 * emulator or the ceiling client on the main thread.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parentPort } from 'node:worker_threads';
import { nowMs } from './clock.js';
import type { ReceiverCommand, ReceiverReply } from './receiver.js';

const OK_BODY = '{"ok":true}';
const OK_HEADERS = { 'content-type': 'application/json', 'content-length': String(OK_BODY.length) };

let delayMs = 0;
let ids: string[] = [];
let at: number[] = [];
let lengths: number[] = [];
let unique = new Set<string>();
let errors = 0;
let waiting: { n: number; seq: number } | undefined;
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
    if (delayMs > 0) setTimeout(() => answer(res, id, length), delayMs);
    else answer(res, id, length);
  });
}

function answer(res: ServerResponse, id: string, length: number): void {
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
  unique.add(id);
  if (waiting !== undefined && unique.size >= waiting.n) {
    send({ type: 'reached', seq: waiting.seq, at: t, unique: unique.size });
    waiting = undefined;
  }
}

port.on('message', (command: ReceiverCommand) => {
  switch (command.type) {
    case 'reset':
      delayMs = command.delayMs;
      ids = [];
      at = [];
      lengths = [];
      unique = new Set();
      errors = 0;
      waiting = undefined;
      elu = performance.eventLoopUtilization();
      send({ type: 'done', seq: command.seq });
      return;
    case 'await':
      if (unique.size >= command.n) send({ type: 'reached', seq: command.seq, at: at[at.length - 1] ?? nowMs(), unique: unique.size });
      else waiting = { n: command.n, seq: command.seq };
      return;
    case 'progress':
      send({ type: 'progress', seq: command.seq, requests: ids.length, unique: unique.size, errors });
      return;
    case 'collect': {
      const times = Float64Array.from(at);
      const sizes = Uint32Array.from(lengths);
      const used = performance.eventLoopUtilization(elu);
      send({ type: 'records', seq: command.seq, ids, at: times, lengths: sizes, unique: unique.size, errors, elu: used.utilization }, [times.buffer, sizes.buffer]);
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
