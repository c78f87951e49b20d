import { randomUUID } from 'node:crypto';

export const STREAM_ID = 'live-stream-1';
export const EMULATOR_TOKEN = 'emulator-token';

export interface PipelineEndpoints {
  redisUrl: string;
  openctiUrl: string;
  webhookUrl: string;
}

/**
 * Environment for the real processes: production defaults plus what a test
 * must set, with retries and stall recovery shrunk to test time. Every call
 * gets a fresh connector id, so tests sharing a Redis never see each other.
 */
export function pipelineEnv(endpoints: PipelineEndpoints, overrides: Record<string, string> = {}): Record<string, string> {
  return {
    OPENCTI_URL: endpoints.openctiUrl,
    OPENCTI_TOKEN: EMULATOR_TOKEN,
    CONNECTOR_ID: randomUUID(),
    CONNECTOR_NAME: 'Webhook test',
    CONNECTOR_LIVE_STREAM_ID: STREAM_ID,
    // Replay the emulator's log rather than recover a snapshot (the product's default);
    // recover mode has its own tests.
    CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE: 'false',
    CONNECTOR_LOG_LEVEL: 'info',
    CONNECTOR_CONSUMER_COUNT: '10',
    WEBHOOK_URL: endpoints.webhookUrl,
    WEBHOOK_RETRY_BASE_DELAY_MS: '50',
    WEBHOOK_RETRY_MAX_DELAY_MS: '500',
    WEBHOOK_REQUEST_TIMEOUT_MS: '5000',
    DISPATCHER_LOCK_DURATION_MS: '2000',
    REDIS_URL: endpoints.redisUrl,
    // An ingester restarted after a SIGKILL waits for its predecessor's lease to expire: keep that short.
    INGESTER_LEASE_TTL_MS: '3000',
    ...overrides,
  };
}
