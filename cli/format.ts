/** Human-readable output helpers for the CLI; `--json` output never goes through here. */

export function isoTime(epochMs: number | undefined): string | null {
  return epochMs === undefined || !Number.isFinite(epochMs) ? null : new Date(epochMs).toISOString();
}

/** "4 s", "12 min", "3 h", "2 d": coarse on purpose, for a glance. */
function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7_200) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3_600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

export function ago(epochMs: number | undefined, now: number): string {
  return epochMs === undefined ? 'never' : `${isoTime(epochMs)} (${duration(now - epochMs)} ago)`;
}

/** Left-aligned columns separated by two spaces. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}
