import { request, type Dispatcher } from 'undici';
import type { ProxySettings } from '../../shared/net/proxy.js';
import { redactUrl } from '../../shared/observability/redact.js';
import { USER_AGENT } from '../../shared/process/version.js';
import type { IngesterConfig } from '../../ingester/config.js';
import { createPlatformDispatcher, networkErrorFields, platformTls, TLS_HINT, tlsVerifyFailure } from '../../ingester/platform/http.js';
import { GraphqlError, OpenctiApi, PlatformHttpError } from '../../ingester/platform/opencti-api.js';
import { TOKEN_REJECTED, unknownStreamMessage } from '../../ingester/stream/check.js';
import { STREAM_REJECTED_HINT } from '../../ingester/stream/client.js';
import { liveStreamHeaders, liveStreamUrl } from '../../ingester/stream/request.js';
import type { CheckRow } from './row.js';

type Platform = Pick<IngesterConfig, 'opencti' | 'connector'>;

/**
 * OpenCTI as the ingester reaches it (same TLS, proxy, token, GraphQL
 * documents, stream headers), read-only: `about` proves the token, the
 * stream collection lookup the stream id, and the live stream is opened
 * and closed as soon as its answer's headers arrive, before any event.
 * Nothing registers the connector or sends it a state.
 */
export async function probeOpencti(config: Platform, proxy: ProxySettings, timeoutMs: number): Promise<CheckRow[]> {
  const http = createPlatformDispatcher(platformTls(config.opencti), proxy);
  try {
    const api = new OpenctiApi({ url: config.opencti.url, token: config.opencti.token, dispatcher: http, userAgent: USER_AGENT, timeoutMs });
    return await Promise.all([probeApi(api, config), probeStream(api, http, config, timeoutMs)]);
  } finally {
    await http.close();
  }
}

async function probeApi(api: OpenctiApi, { opencti }: Platform): Promise<CheckRow> {
  const row = (result: CheckRow['result'], detail: string): CheckRow => ({ check: 'opencti api', target: redactUrl(`${opencti.url.replace(/\/+$/, '')}/graphql`), result, detail });
  try {
    const { version } = await api.about();
    return row('ok', `OpenCTI ${version}; OPENCTI_TOKEN accepted`);
  } catch (error) {
    return row('fail', platformFailure(error));
  }
}

async function probeStream(api: OpenctiApi, http: Dispatcher, config: Platform, timeoutMs: number): Promise<CheckRow> {
  const streamId = config.connector.live_stream_id;
  const url = liveStreamUrl(config);
  const row = (result: CheckRow['result'], detail: string): CheckRow => ({ check: 'live stream', target: redactUrl(url), result, detail });
  let described = '';
  // `live` (the whole stream) is not a collection: only opening it tells.
  if (streamId !== 'live') {
    try {
      const collection = await api.streamCollection(streamId);
      if (!collection) return row('fail', unknownStreamMessage(streamId));
      if (!collection.stream_live) return row('warn', `stream ${JSON.stringify(collection.name)} is stopped in OpenCTI (Data sharing → Live streams): the ingester waits until it is started`);
      described = `stream ${JSON.stringify(collection.name)}, `;
    } catch (error) {
      // The ingester reads a stream it may not describe (reference §7): so does the check.
      if (!(error instanceof GraphqlError) || error.unauthenticated) return row('fail', platformFailure(error));
    }
  }
  try {
    const response = await request(url, {
      method: 'GET',
      headers: { ...liveStreamHeaders(config), accept: 'text/event-stream', 'cache-control': 'no-cache' },
      dispatcher: http,
      signal: AbortSignal.timeout(timeoutMs),
    });
    // Closed at once: no frame is read, no position taken.
    response.body.destroy();
    const type = String(response.headers['content-type'] ?? '');
    if (response.statusCode === 200 && type.startsWith('text/event-stream')) return row('ok', `${described}opened (200 text/event-stream) and closed before any event`);
    if (response.statusCode === 200) return row('fail', `answered 200 with ${type || 'no content type'}, not an event stream (is OPENCTI_URL the platform, not a page in front of it?)`);
    if (response.statusCode === 401) return row('fail', STREAM_REJECTED_HINT);
    if (response.statusCode === 410) return row('warn', 'OpenCTI answered 410: the live stream is stopped; the ingester waits until it is started');
    return row('fail', `OpenCTI answered HTTP ${response.statusCode} to the stream request`);
  } catch (error) {
    return row('fail', platformFailure(error));
  }
}

/** Why a platform request failed, in the words the ingester logs it with. */
function platformFailure(error: unknown): string {
  if (error instanceof GraphqlError) return error.unauthenticated ? TOKEN_REJECTED : `OpenCTI refused: ${error.platformCode}: ${error.message}`;
  if (error instanceof PlatformHttpError) return error.message;
  const tls = tlsVerifyFailure(error);
  if (tls) return `${TLS_HINT} [${tls}]`;
  const { name } = error as { name?: string };
  if (name === 'TimeoutError' || name === 'AbortError') return 'no answer within the timeout (--timeout-ms)';
  const { message, code } = networkErrorFields(error);
  return `unreachable: ${message}${code && !message.includes(code) ? ` (${code})` : ''}`;
}
