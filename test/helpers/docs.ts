/**
 * The repository's own documents as test oracles: what the README promises
 * operators must be what the processes and deployment files do.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// Compiled, this file is <repo>/dist/test/helpers/docs.js.
const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function repoFile(path: string): string {
  return readFileSync(`${REPO_ROOT}${path}`, 'utf8');
}

export type MetricProcess = 'ingester' | 'dispatcher' | 'board';

export interface DocumentedMetric {
  name: string;
  /** The labels of its `{a,b}` in the table. */
  labels: string[];
  processes: MetricProcess[];
}

/**
 * Rows of the metrics table of docs/metrics.md (`| \`name{labels}\` | type | processes | meaning |`).
 */
export function documentedMetrics(): DocumentedMetric[] {
  const section = repoFile('docs/metrics.md');
  const metrics: DocumentedMetric[] = [];
  for (const line of section.split('\n')) {
    const row = /^\| `([a-z_:][a-z0-9_:]*)(?:\{([^}]*)\})?` \| [a-z]+ \| ([a-z, ]+) \|/.exec(line);
    if (!row) continue;
    metrics.push({
      name: row[1] as string,
      labels: row[2] ? row[2].split(',').map((label) => label.trim()) : [],
      processes: (row[3] as string).split(',').map((p) => p.trim() as MetricProcess),
    });
  }
  if (metrics.length === 0) throw new Error('no metric rows found in the docs/metrics.md table');
  return metrics;
}
