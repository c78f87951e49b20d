import { Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../shared/observability/logger.js';
import type { PlatformFrameName } from './frame.js';

/** consumer_metrics fields (reference §3.6) and the gauge each one feeds. */
const CONSUMER_METRICS = [
  ['deliveryRate', 'opencti_webhook_platform_delivery_rate', 'Delivery rate of this stream connection, as OpenCTI reports it (consumer_metrics)'],
  ['processingRate', 'opencti_webhook_platform_processing_rate', 'Processing rate of this stream connection, as OpenCTI reports it (consumer_metrics)'],
  ['resolutionRate', 'opencti_webhook_platform_resolution_rate', 'Dependency resolution rate of this stream connection, as OpenCTI reports it (consumer_metrics)'],
  ['productionRate', 'opencti_webhook_platform_production_rate', 'Rate at which the platform produces events for this stream, as OpenCTI reports it (consumer_metrics)'],
  ['timeLag', 'opencti_webhook_platform_time_lag_seconds', 'How far this connection lags behind the newest event, as OpenCTI reports it (consumer_metrics)'],
  ['estimatedOutOfDepth', 'opencti_webhook_platform_estimated_out_of_depth_seconds', 'Time before this connection falls out of the retained stream at the current rates, as OpenCTI reports it (consumer_metrics)'],
] as const;

/** consumer_metrics frames are a few dozen bytes; anything much larger is not one. */
const MAX_METRICS_FRAME = 4_096;
const MAX_LOGGED_TEXT = 500;

/**
 * What newer platforms say about the stream itself, in frames that are never
 * forwarded (reference §3.6): `consumer_metrics` become gauges, `no-recover`
 * and `error` are logged as warnings. Gauges appear with the first frame:
 * older platforms send none.
 */
export class PlatformFrames {
  readonly #gauges = new Map<string, Gauge>();

  constructor(
    private readonly registry: Registry,
    private readonly logger: Logger,
  ) {}

  handle(event: PlatformFrameName, data: string): void {
    if (event === 'consumer_metrics') {
      this.#consumerMetrics(data);
      return;
    }
    const body = parseSmallObject(data, MAX_LOGGED_TEXT * 4);
    const message = typeof body?.message === 'string' ? body.message.slice(0, MAX_LOGGED_TEXT) : data.slice(0, MAX_LOGGED_TEXT);
    if (event === 'no-recover') {
      const resumeFrom = typeof body?.resume_from === 'string' ? body.resume_from.slice(0, 64) : undefined;
      this.logger.warn({ platformMessage: message, resumeFrom, hint: 'OpenCTI skipped recover mode for this stream (streams with origin filters cannot recover); reading live events only' }, 'stream.no_recover');
    } else {
      this.logger.warn({ platformMessage: message, hint: 'OpenCTI reported an error on the stream' }, 'stream.platform_error');
    }
  }

  #consumerMetrics(data: string): void {
    const values = parseSmallObject(data, MAX_METRICS_FRAME);
    if (!values) {
      this.logger.debug({ dataLength: data.length, hint: 'consumer_metrics is not a small JSON object' }, 'frame.malformed');
      return;
    }
    for (const [field, name, help] of CONSUMER_METRICS) {
      const value = values[field];
      if (typeof value !== 'number' || !Number.isFinite(value)) continue;
      let gauge = this.#gauges.get(name);
      if (!gauge) {
        gauge = new Gauge({ name, help, registers: [this.registry] });
        this.#gauges.set(name, gauge);
      }
      gauge.set(value);
    }
  }
}

function parseSmallObject(data: string, maxLength: number): Record<string, unknown> | undefined {
  if (data.length > maxLength) return undefined;
  try {
    const parsed: unknown = JSON.parse(data);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
