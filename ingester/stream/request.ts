import { USER_AGENT } from '../../shared/process/version.js';

/** What the live stream is read with: the settings behind its URL and headers. */
interface LiveStreamSettings {
  opencti: { url: string; token: string };
  connector: {
    live_stream_id: string;
    live_stream_listen_delete: boolean;
    live_stream_no_dependencies: boolean;
    live_stream_with_inferences: boolean;
  };
}

/** `${OPENCTI_URL}/stream/${CONNECTOR_LIVE_STREAM_ID}`, without ?recover= (added per connection). */
export function liveStreamUrl({ opencti, connector }: LiveStreamSettings): string {
  return `${opencti.url.replace(/\/+$/, '')}/stream/${connector.live_stream_id}`;
}

/**
 * The headers of every connection to the live stream, as pycti sends them
 * (reference §2, §5); one copy for the ingester and the CLI's `check`, so the
 * check opens the stream exactly as the ingester would.
 */
export function liveStreamHeaders({ opencti, connector }: LiveStreamSettings): Record<string, string> {
  return {
    authorization: `Bearer ${opencti.token}`,
    'listen-delete': String(connector.live_stream_listen_delete),
    'no-dependencies': String(connector.live_stream_no_dependencies),
    'with-inferences': String(connector.live_stream_with_inferences),
    'user-agent': USER_AGENT,
  };
}
