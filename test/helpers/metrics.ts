import { request } from 'undici';

/** The Prometheus text a product process serves on its metrics port. */
export async function scrapeMetrics(port: number): Promise<string> {
  const response = await request(`http://127.0.0.1:${port}/metrics`);
  return response.body.text();
}

const SERIES = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function parseSeries(series: string): { name: string; labels: Map<string, string> } | undefined {
  const match = SERIES.exec(series);
  if (!match) return undefined;
  return { name: match[1]!, labels: new Map([...(match[2] ?? '').matchAll(LABEL)].map(([, key, value]) => [key!, value!])) };
}

/**
 * Sum of the series of `name{labels}` that carry at least those labels, 0
 * when none does: `processed_messages_total{action="create"}` adds up every
 * destination's series, `…{action="create",destination="soar"}` is one.
 */
export function metricValue(text: string, series: string): number {
  const wanted = parseSeries(series);
  if (!wanted) throw new Error(`not a series: ${series}`);
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(wanted.name)) continue;
    const space = line.lastIndexOf(' ');
    const found = parseSeries(line.slice(0, space));
    if (found?.name !== wanted.name) continue;
    if ([...wanted.labels].every(([key, value]) => found.labels.get(key) === value)) sum += Number(line.slice(space + 1));
  }
  return sum;
}
