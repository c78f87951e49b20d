import { isoUtc } from '../../shared/config/fields.js';
import { isStreamId } from '../../shared/opencti/stream-id.js';

/**
 * The connector state OpenCTI stores for a stream connector, in pycti's
 * format (reference §5.6): where to resume and the recover date.
 */
export interface PyctiState {
  /** Last-Event-ID to resume after. */
  startFrom: string;
  /** The `?recover=` date sent on every connection, or false. */
  recoverUntil: string | false;
}

/**
 * The state as pycti sends it: `json.dumps({"start_from": …, "recover_until": …})`,
 * with Python's `", "` and `": "` separators, so the platform (and a Python
 * connector rolled back to) sees exactly what pycti would have written.
 */
export function formatPyctiState(state: PyctiState): string {
  return pythonJsonDumps({ start_from: state.startFrom, recover_until: state.recoverUntil });
}

/**
 * Reads a state string from the platform the way pycti does: empty, `null`,
 * invalid JSON, a non-object or `{}` mean "no state" (undefined), which is
 * also what a reset from the OpenCTI UI leaves. The legacy keys
 * `connectorLastEventId` and `connectorStartTime` win over `start_from` and
 * `recover_until`, as in pycti. A state without a usable position is no state.
 */
export function parsePyctiState(text: string | null | undefined): PyctiState | undefined {
  if (!text) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const state = parsed as Record<string, unknown>;
  const startFrom = state.connectorLastEventId ?? state.start_from;
  if (typeof startFrom !== 'string' || !isStreamId(startFrom)) return undefined;
  return { startFrom, recoverUntil: recoverDate(state.connectorStartTime ?? state.recover_until) };
}

/** pycti's recover_until: false, or the strings it treats as "off", mean no recovery; a date is normalised to UTC. */
function recoverDate(value: unknown): string | false {
  if (typeof value !== 'string' || ['no', 'none', 'false', ''].includes(value.trim().toLowerCase())) return false;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? isoUtc(ms) : false;
}

/** Python's `json.dumps` with its default settings (separators `", "` and `": "`, ensure_ascii). */
export function pythonJsonDumps(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(', ')}]`;
  if (typeof value === 'object') {
    return `{${Object.entries(value).map(([key, inner]) => `${asciiJson(key)}: ${pythonJsonDumps(inner)}`).join(', ')}}`;
  }
  if (typeof value === 'string') return asciiJson(value);
  return JSON.stringify(value);
}

function asciiJson(text: string): string {
  return JSON.stringify(text).replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
