import type { Server } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { HonoAdapter } from '@bull-board/hono';
import { serve } from '@hono/node-server';
import { serveStatic } from '@hono/node-server/serve-static';
import type { Queue } from 'bullmq';
import { Hono, type Context } from 'hono';
import { basicAuth } from 'hono/basic-auth';
import { HTTPException } from 'hono/http-exception';
import { csrf } from 'hono/csrf';
import { secureHeaders } from 'hono/secure-headers';
import type { Logger } from '../shared/logger.js';
import { EventQueueAdapter } from './board-queue.js';
import type { BoardConfig } from './config.js';

export interface BoardServerOptions {
  host: string;
  port: number;
  /** URL path prefix, `/` or `/board`; a trailing slash is ignored. */
  basePath: string;
  /** Required by the configuration beyond loopback; without it the board is open to whoever reaches the port. */
  credentials?: { username: string; password: string };
  readOnly: boolean;
  connectorName: string;
}

/**
 * Same-origin only: the UI would otherwise fetch its fonts from Google, telling
 * a third party who opens the board and when (it falls back to system fonts).
 * Inline styles are the UI's own (React style attributes).
 */
const CONTENT_SECURITY_POLICY = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'", "'unsafe-inline'"],
  imgSrc: ["'self'", 'data:'],
  fontSrc: ["'self'", 'data:'],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'self'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

/** The board's options from its configuration section (dispatcher or board-only process). */
export function boardServerOptions(board: BoardConfig['bull_board'], connectorName: string): BoardServerOptions {
  const { username, password } = board;
  return {
    host: board.addr,
    port: board.port,
    basePath: board.base_path,
    ...(username && password ? { credentials: { username, password } } : {}),
    readOnly: board.read_only,
    connectorName,
  };
}

/**
 * The bull-board UI on its own port. Basic auth covers every path (pages,
 * assets, API and 404s alike), cross-site form posts are refused (CSRF), and
 * two actions that would alter what the webhook receives are refused even
 * in read-write mode: adding a job and editing a job's data. An event is
 * forwarded byte for byte as OpenCTI sent it, and its webhook-id is derived
 * from those bytes.
 */
export async function startBoardServer(options: BoardServerOptions, deps: { queue: Queue; logger: Logger }): Promise<Server> {
  const basePath = options.basePath.replace(/\/+$/, '') || '/';
  const app = new Hono();
  // Hono would print the stack to stderr; keep the logs JSON, and the answer free of internals.
  app.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
    deps.logger.warn({ path: c.req.path, err: { message: error.message } }, 'board.request_failed');
    return c.json({ error: 'internal error' }, 500);
  });
  if (options.credentials) app.use('*', basicAuth({ ...options.credentials, realm: 'opencti-webhook board' }));
  app.use('*', secureHeaders({ strictTransportSecurity: false, contentSecurityPolicy: CONTENT_SECURITY_POLICY }));
  app.use('*', csrf());
  const api = `${basePath === '/' ? '' : basePath}/api/queues/:queueName`;
  app.post(`${api}/add`, refuseEventRewrite);
  app.patch(`${api}/:jobId/update-data`, refuseEventRewrite);

  const serverAdapter = new HonoAdapter(serveStatic);
  createBullBoard({
    queues: [new EventQueueAdapter(deps.queue, { readOnly: options.readOnly, description: `OpenCTI live stream events of ${options.connectorName}` })],
    serverAdapter,
    options: { uiConfig: { boardTitle: 'OpenCTI webhook', jobDetails: { defaultTab: 'Data' } } },
  });
  serverAdapter.setBasePath(basePath);
  app.route(basePath, serverAdapter.registerPlugin());

  const server = await new Promise<Server>((resolve, reject) => {
    const started = serve({ fetch: app.fetch, hostname: options.host, port: options.port }, () => {
      started.off('error', reject);
      resolve(started as Server);
    });
    started.once('error', reject);
  });
  deps.logger.info(
    { addr: options.host, port: options.port, basePath, readOnly: options.readOnly, authConfigured: Boolean(options.credentials) },
    'board.listening',
  );
  if (!options.credentials) deps.logger.warn({ addr: options.host, hint: 'anyone who can reach this address can read and retry events' }, 'board.unauthenticated');
  return server;
}

function refuseEventRewrite(c: Context): Response {
  return c.json({ error: 'not supported: events are delivered exactly as OpenCTI sent them, so they cannot be added or edited here' }, 405);
}
