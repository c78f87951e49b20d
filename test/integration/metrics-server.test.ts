import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { IngesterMetrics } from '../../ingester/metrics.js';
import { closeServer, startMetricsServer, type MetricsServerOptions } from '../../shared/observability/metrics-server.js';
import { Readiness } from '../../shared/observability/readiness.js';
import { metricValue } from '../helpers/metrics.js';

const servers: Server[] = [];
after(() => Promise.all(servers.map(closeServer)));

async function probe(ready: MetricsServerOptions['ready'], path = '/readyz'): Promise<{ status: number; body: string }> {
  const server = await startMetricsServer({ host: '127.0.0.1', port: 0, registry: new Registry(), ...(ready ? { ready } : {}) });
  servers.push(server);
  const response = await request(`http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`);
  return { status: response.statusCode, body: await response.body.text() };
}

describe('/readyz', () => {
  it('answers 503 with every reason until startup is done and every check passes, then 200', async () => {
    const readiness = new Readiness();
    let redis = 'redis connecting';
    readiness.require(() => redis || undefined);
    assert.deepEqual(await probe(() => readiness.status()), { status: 503, body: '{"ready":false,"reasons":["starting","redis connecting"]}\n' });
    readiness.started();
    redis = '';
    assert.deepEqual(await probe(() => readiness.status()), { status: 200, body: '{"ready":true,"reasons":[]}\n' });
  });

  it('accepts a boolean, treats a throwing check as not ready, and without a check answers like /healthz', async () => {
    assert.equal((await probe(() => false)).status, 503);
    assert.deepEqual(await probe(() => { throw new Error('boom'); }), { status: 503, body: '{"ready":false,"reasons":["readiness check failed"]}\n' });
    assert.equal((await probe(undefined)).status, 200);
  });
});

describe('opencti_webhook_stream_lag_seconds', () => {
  it('is NaN before any id, then now minus the newest id seen, never moved back by a replay', async () => {
    const metrics = new IngesterMetrics('test', () => 0, ['default']);
    const lag = async () => metricValue(await metrics.registry.metrics(), 'opencti_webhook_stream_lag_seconds');
    assert.ok(Number.isNaN(await lag()));
    metrics.idSeen(Date.now() - 10_000);
    metrics.idSeen(Date.now() - 60_000);
    const seconds = await lag();
    assert.ok(seconds >= 10 && seconds < 12, String(seconds));
  });
});
