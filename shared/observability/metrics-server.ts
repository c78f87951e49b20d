import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { ReadinessStatus } from './readiness.js';

export interface MetricsServerOptions {
  host: string;
  port: number;
  registry: Registry;
  /** Answers `/readyz`; without it `/readyz` answers like `/healthz`. */
  ready?: () => boolean | ReadinessStatus;
}

/**
 * Serves `/metrics` (Prometheus text), `/healthz` (the process is alive: it
 * answers HTTP) and `/readyz` (it can do its work now: 200, else 503 with a
 * JSON body listing the reasons).
 */
export async function startMetricsServer(options: MetricsServerOptions): Promise<Server> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
    } else if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        (error: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(error.message),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const status = readinessOf(options.ready);
      res.writeHead(status.ready ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(status)}\n`);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

function readinessOf(ready: MetricsServerOptions['ready']): ReadinessStatus {
  let answer: boolean | ReadinessStatus;
  try {
    answer = ready?.() ?? true;
  } catch {
    // A probe must never take the process down; a broken check means "not ready".
    return { ready: false, reasons: ['readiness check failed'] };
  }
  return typeof answer === 'boolean' ? { ready: answer, reasons: answer ? [] : ['not ready'] } : answer;
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
