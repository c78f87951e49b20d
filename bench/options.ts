/**
 * Benchmark options, all from environment variables (documented in run.ts and docs/performance.md).
 * A bad value stops the bench before anything starts, naming the variable.
 */
const SCENARIOS = ['drain', 'ceiling', 'queue', 'live', 'scaling', 'slow', 'filter', 'isolation'] as const;
type Scenario = (typeof SCENARIOS)[number];

export interface BenchOptions {
  events: number;
  concurrency: number;
  scenarios: Scenario[];
  /** Destinations that take every event in the drain, queue and live scenarios (default, d2, d3, …). */
  destinations: number;
  /** Measured seconds of each isolation run (the outage of destination A lasts that long). */
  isolationSeconds: number;
  liveRates: number[];
  liveSeconds: number;
  liveWarmupSeconds: number;
  liveSettleSeconds: number;
  scalingEvents: number;
  scalingDelayMs: number;
  scalingDispatchers: number[];
  /** The slow scenario: the receiver's answer delay, CONNECTOR_CONSUMER_COUNT, and the backlogs drained. */
  slowDelayMs: number;
  slowConcurrency: number;
  slowBacklogs: number[];
  poolSize: number;
  /** Every envelope this many bytes (a report) instead of the realistic size mix; undefined keeps the mix. */
  eventBytes: number | undefined;
  timeoutSeconds: number;
  out: string;
  profileDir: string | undefined;
  logLevel: string;
  /** NODE_OPTIONS of the product processes (runtime flags such as --max-semi-space-size). */
  nodeOptions: string;
}

export function readOptions(env: NodeJS.ProcessEnv = process.env): BenchOptions {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw.replace(/_/g, ''));
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name}=${raw}: expected an integer from ${min} to ${max}`);
      return fallback;
    }
    return value;
  };
  const ints = (name: string, fallback: number[], min: number, max: number): number[] => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const values = raw.split(',').map((part) => Number(part.trim().replace(/_/g, '')));
    if (values.length === 0 || values.some((v) => !Number.isInteger(v) || v < min || v > max)) {
      problems.push(`${name}=${raw}: expected a comma-separated list of integers from ${min} to ${max}`);
      return fallback;
    }
    return values;
  };
  const profile = env.BENCH_PROFILE;
  const profileDir = profile === undefined || profile === '' || profile === '0' ? undefined : profile === '1' ? '/tmp/opencti-webhook-prof' : profile;
  let scenarios: Scenario[] = profileDir === undefined ? [...SCENARIOS] : ['drain'];
  const rawScenarios = env.BENCH_SCENARIOS;
  if (rawScenarios !== undefined && rawScenarios !== '') {
    const wanted = rawScenarios.split(',').map((s) => s.trim());
    const unknown = wanted.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
    if (unknown.length > 0) problems.push(`BENCH_SCENARIOS=${rawScenarios}: unknown ${unknown.join(', ')}; choose from ${SCENARIOS.join(', ')}`);
    else scenarios = SCENARIOS.filter((s) => wanted.includes(s));
  }
  const options: BenchOptions = {
    events: int('BENCH_EVENTS', 100_000, 1, 10_000_000),
    concurrency: int('BENCH_CONCURRENCY', 10, 1, 1_000),
    scenarios,
    destinations: int('BENCH_DESTINATIONS', 1, 1, 20),
    isolationSeconds: int('BENCH_ISOLATION_SECONDS', 60, 1, 3_600),
    liveRates: ints('BENCH_LIVE_RATES', [500, 2_000], 1, 1_000_000),
    liveSeconds: int('BENCH_LIVE_SECONDS', 15, 1, 3_600),
    liveWarmupSeconds: int('BENCH_LIVE_WARMUP_SECONDS', 5, 0, 600),
    liveSettleSeconds: int('BENCH_LIVE_SETTLE_SECONDS', 30, 1, 3_600),
    scalingEvents: int('BENCH_SCALING_EVENTS', 10_000, 1, 10_000_000),
    scalingDelayMs: int('BENCH_SCALING_DELAY_MS', 50, 0, 60_000),
    scalingDispatchers: ints('BENCH_SCALING_DISPATCHERS', [1, 3], 1, 64),
    slowDelayMs: int('BENCH_SLOW_DELAY_MS', 500, 1, 60_000),
    slowConcurrency: int('BENCH_SLOW_CONCURRENCY', 50, 1, 1_000),
    slowBacklogs: ints('BENCH_SLOW_BACKLOGS', [200, 1_000, 10_000], 1, 10_000_000),
    poolSize: int('BENCH_POOL', 5_000, 1, 1_000_000),
    eventBytes: env.BENCH_EVENT_BYTES ? int('BENCH_EVENT_BYTES', 0, 1_024, 16_777_216) : undefined,
    timeoutSeconds: int('BENCH_TIMEOUT_S', 300, 1, 86_400),
    out: env.BENCH_OUT && env.BENCH_OUT !== '' ? env.BENCH_OUT : 'bench/results/bench-results.json',
    profileDir,
    logLevel: env.BENCH_LOG_LEVEL && env.BENCH_LOG_LEVEL !== '' ? env.BENCH_LOG_LEVEL : 'info',
    nodeOptions: env.BENCH_NODE_OPTIONS ?? '',
  };
  if (problems.length > 0) throw new Error(`bench: bad option${problems.length > 1 ? 's' : ''}:\n  ${problems.join('\n  ')}`);
  return options;
}
