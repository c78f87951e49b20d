/**
 * Micro-benchmark of the JSONata pool (shared/jsonata/pool.ts): throughput of a boolean filter on
 * a ~2.5 KB event, sent one evaluation at a time (each waits for the previous one: the thread
 * hop is paid every time) and in batches of 200 (what the ingester sends per read).
 *   npm run build && node dist/bench/jsonata-pool.js [evaluations per case, default 20000]
 */
import { performance } from 'node:perf_hooks';
import { JsonataPool } from '../shared/jsonata/pool.js';
import { EventFactory } from '../test/helpers/stix-fixtures.js';

const total = Number(process.argv[2] ?? 20_000);
const FILTER = 'type = "create" and data.type in ["indicator", "malware"] and data.confidence >= 50';

const factory = new EventFactory('jsonata-bench');
const events = Array.from({ length: 200 }, (_, index) =>
  factory.build(index, Date.parse('2024-05-01T00:00:00Z'), {
    envelopeType: 'create',
    freshDependencies: 2,
    sharedDependencyKeys: [],
    size: 2500,
    explicitSize: true,
    inferred: false,
    entityType: index % 2 === 0 ? 'indicator' : 'report',
  }).envelope,
);

const pool = new JsonataPool({ filter: { source: FILTER, output: 'boolean' } }, { timeoutMs: 1000 });

async function run(batch: number, count: number): Promise<{ seconds: number; matched: number }> {
  let matched = 0;
  const startedMs = performance.now();
  for (let done = 0; done < count; done += batch) {
    const items = Array.from({ length: batch }, (_, n) => ({ json: events[(done + n) % events.length]! }));
    for (const result of await pool.evaluateMany('filter', items)) {
      if (!result.ok) throw new Error(`evaluation failed: ${result.message}`);
      if (result.value === true) matched += 1;
    }
  }
  return { seconds: (performance.now() - startedMs) / 1000, matched };
}

try {
  await run(200, 2_000); // warm-up: thread start, JIT
  const averageBytes = Math.round(events.reduce((sum, json) => sum + json.length, 0) / events.length);
  console.log(`filter: ${FILTER}\nevent: ~${averageBytes} bytes, ${total} evaluations per case`);
  for (const batch of [1, 200]) {
    const { seconds, matched } = await run(batch, total);
    const rate = total / seconds;
    console.log(`batch ${String(batch).padStart(3)}: ${Math.round(rate).toLocaleString('en')} evaluations/s, ${((seconds * 1e6) / total).toFixed(1)} µs per evaluation (${matched} matched)`);
  }
} finally {
  await pool.close();
}
