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
import type { Registry } from 'prom-client';
import type { Logger } from '../../shared/observability/logger.js';
import { destinationKeys } from '../../shared/queue/contract.js';
import type { RedisClient } from '../../shared/redis/client.js';
import { BoardAudit } from './audit.js';
import { BoardRefusedError, EventQueueAdapter } from './queue.js';
import type { BoardConfig } from '../config.js';

export interface BoardServerOptions {
  host: string;
  port: number;
  /** URL path prefix, `/` or `/board`; a trailing slash is ignored. */
  basePath: string;
  /** Required by the configuration beyond loopback; without it the board is open to whoever reaches the port. */
  credentials?: { username: string; password: string };
  readOnly: boolean;
  connectorId: string;
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
export function boardServerOptions(board: BoardConfig['bull_board'], connector: { id: string; name: string }): BoardServerOptions {
  const { username, password } = board;
  return {
    host: board.addr,
    port: board.port,
    basePath: board.base_path,
    ...(username && password ? { credentials: { username, password } } : {}),
    readOnly: board.read_only,
    connectorId: connector.id,
    connectorName: connector.name,
  };
}

/**
 * The bull-board UI on its own port. Basic auth covers every path (pages,
 * assets, API and 404s alike), cross-site form posts are refused (CSRF), and
 * actions that would alter what the webhook receives are refused even in
 * read-write mode: adding a job and editing a job's data (an event is
 * forwarded byte for byte as OpenCTI sent it, and its webhook-id is derived
 * from those bytes), and deleting anything not yet delivered (see
 * EventQueueAdapter). One queue per destination, labelled with its name.
 * `registry` gets the count of discarded dead letters.
 */
export async function startBoardServer(
  options: BoardServerOptions,
  deps: { queues: ReadonlyArray<{ destination: string; queue: Queue }>; redis: RedisClient; logger: Logger; registry?: Registry },
): Promise<Server> {
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

  const serverAdapter = new EventBoardAdapter(serveStatic);
  const audit = new BoardAudit(options.credentials?.username ?? 'anonymous', { logger: deps.logger, registry: deps.registry });
  createBullBoard({
    queues: deps.queues.map(
      ({ destination, queue }) =>
        new EventQueueAdapter(queue, {
          readOnly: options.readOnly,
          destination,
          description: `OpenCTI live stream events of ${options.connectorName} for the destination ${destination}`,
          operatorPauseKey: destinationKeys(options.connectorId, destination).operatorPause,
          redis: deps.redis,
          audit,
        }),
    ),
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
  if (!options.credentials) deps.logger.warn({ addr: options.host, hint: 'anyone who can reach this address can read, retry and discard dead letters' }, 'board.unauthenticated');
  return server;
}

type BullBoardErrorHandler = Parameters<HonoAdapter['setErrorHandler']>[0];

/**
 * bull-board would answer a refusal as an internal error; this gives it its
 * status and says why, under a stable `code`. Every other error keeps
 * bull-board's own answer.
 */
class EventBoardAdapter extends HonoAdapter {
  override setErrorHandler(handler: BullBoardErrorHandler): this {
    return super.setErrorHandler((error) =>
      error instanceof BoardRefusedError
        ? { status: error.statusCode, body: { error: { key: 'ERRORS.FORBIDDEN' }, code: error.code, message: error.message } }
        : handler(error),
    );
  }
}

function refuseEventRewrite(c: Context): Response {
  return c.json({ error: 'not supported: events are delivered exactly as OpenCTI sent them, so they cannot be added or edited here' }, 405);
}
