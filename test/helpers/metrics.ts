import { request } from 'undici';

/** The Prometheus text a product process serves on its metrics port. */
export async function scrapeMetrics(port: number): Promise<string> {
  const response = await request(`http://127.0.0.1:${port}/metrics`);
  return response.body.text();
}

/** Value of one exact series (`name{labels}`), 0 when absent. */
export function metricValue(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
