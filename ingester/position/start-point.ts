import { isoUtc } from '../../shared/config/fields.js';
import { parsePyctiState } from '../platform/connector-state.js';
import type { Cursor, StoredCursor } from './cursor-store.js';

export interface StartSettings {
  /** CONNECTOR_LIVE_STREAM_START_TIMESTAMP, epoch ms. */
  startTimestamp?: number | undefined;
  /** CONNECTOR_LIVE_STREAM_RECOVER_ISO_DATE: unset means "now", false turns recovery off. */
  recoverIsoDate?: string | false | undefined;
}

export type StartSource = 'redis' | 'platform' | 'configured';

/**
 * pycti's first run (reference §5.6): resume after the start timestamp (else
 * from the beginning of the retained stream), recover up to the configured
 * date, else up to now (UTC, whole seconds). Also where a state reset done in
 * OpenCTI leads, with the next generation.
 */
export function configuredStart(settings: StartSettings, nowMs: number, generation = 0): Cursor {
  return {
    resumeFrom: settings.startTimestamp === undefined ? '0-0' : `${settings.startTimestamp}-0`,
    openEventIds: [],
    recoverUntil: settings.recoverIsoDate ?? isoUtc(Math.floor(nowMs / 1000) * 1000),
    generation,
  };
}

/**
 * Where the ingester starts: the cursor in Redis (it matches the queue); else
 * the state OpenCTI returned at registration, which is how the position of
 * the Python connector carries over; else the configured start.
 */
export function chooseStart(
  stored: StoredCursor | undefined,
  platformState: string | null | undefined,
  settings: StartSettings,
  nowMs: number,
): { cursor: Cursor; source: StartSource } {
  if (stored) return { cursor: stored.cursor, source: 'redis' };
  const state = parsePyctiState(platformState);
  if (state) return { cursor: { resumeFrom: state.startFrom, openEventIds: [], recoverUntil: state.recoverUntil, generation: 0 }, source: 'platform' };
  return { cursor: configuredStart(settings, nowMs), source: 'configured' };
}
