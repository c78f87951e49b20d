/** Markdown tables for the console (and docs/performance.md) from the bench results. */
import { formatProfile } from './cpuprofile.js';
import type { CeilingResult } from './ceiling.js';
import type { BenchOptions } from './options.js';
import type { CpuShare } from './resources.js';
import type { FilterResult } from './filter-scenario.js';
import type { IsolationResult } from './isolation.js';
import type { SlowResult } from './slow-receiver.js';
import type { DeliveryCheck, DrainResult, LiveResult, ProcessReport, QueueResult, ResourceReport, ScalingResult } from './scenarios.js';
import type { WorkloadStats } from './workload.js';
import { NODE_FLAGS } from '../shared/process/node-flags.js';

/** What a bench run measured: written as JSON next to the report, and the report's input. */
export interface BenchResults {
  startedAt: string;
  runSeconds: number;
  commit: string;
  machine: { cpus: number; cpuModel: string; memoryGiB: number; node: string; redis: string; loadStart: number[]; loadEnd: number[] };
  options: BenchOptions;
  workload: WorkloadStats;
  drain?: DrainResult;
  ceiling?: CeilingResult & { check: DeliveryCheck; cpu: CpuShare };
  queue?: QueueResult;
  live?: LiveResult[];
  scaling?: ScalingResult[];
  slow?: SlowResult;
  filter?: FilterResult;
  isolation?: IsolationResult;
  errors: string[];
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

const int = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '–' : Math.round(n).toLocaleString('en-US'));
const dec = (n: number | undefined, digits = 1): string => (n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits));
const cpu = (p: ProcessReport | undefined): string => (p === undefined ? '–' : `${dec(p.cpuSeconds, 1)} (${int(p.cpuMicrosPerEvent)})`);
const cores = (c: CpuShare | undefined): string => (c === undefined ? '–' : `${dec(c.benchCores, 1)} / ${dec(c.otherCores, 1)}`);
const rss = (p: ProcessReport | undefined): string => (p === undefined ? '–' : `${int(p.peakRssMiB)}${p.count > 1 ? ` ×${p.count}` : ''}`);

function resourceRow(name: string, r: ResourceReport | undefined): string[] {
  return [name, cpu(r?.ingester), rss(r?.ingester), cpu(r?.dispatcher), rss(r?.dispatcher), cpu(r?.redis), rss(r?.redis)];
}

function checkProblems(name: string, c: DeliveryCheck | undefined): string[] {
  if (c === undefined) return [];
  const problems: string[] = [];
  if (c.duplicates > 0) problems.push(`${c.duplicates} duplicate deliveries`);
  if (c.bodyMismatches > 0) problems.push(`${c.bodyMismatches} bodies differ from what was published`);
  if (c.unknown > 0) problems.push(`${c.unknown} unknown event ids`);
  return problems.map((p) => `${name}: ${p}`);
}

/** Per destination (several destinations): drain and dispatcher-alone events/s, queue memory, live latency. */
function destinationSection(results: BenchResults): string[] {
  const { drain, queue, live } = results;
  const names = drain?.destinations.map((d) => d.name) ?? queue?.dispatcherOnly.destinations.map((d) => d.name) ?? live?.[0]?.destinations.map((d) => d.name) ?? [];
  if (names.length < 2) return [];
  const rows = names.map((name, i) => [
    `${name} (${drain?.destinations[i]?.path ?? queue?.queues[i]?.name ?? ''})`,
    int(drain?.destinations[i]?.eventsPerSecond),
    int(queue?.dispatcherOnly.destinations[i]?.eventsPerSecond),
    int(queue?.queues[i]?.bytesPerEvent),
    ...(live ?? []).map((l) => {
      const d = l.destinations[i];
      return d === undefined ? '–' : `${dec(d.latencyMs.p50)} / ${dec(d.latencyMs.p99)}${d.undelivered > 0 ? ` (${int(d.undelivered)} undelivered)` : ''}`;
    }),
  ]);
  const deliveryCpu = drain
    ? `CPU in the drain: dispatcher ${int(drain.resources.dispatcher?.cpuMicrosPerEvent)} µs per delivery (${int(drain.deliveries)} deliveries), ingester ${int(drain.resources.ingester?.cpuMicrosPerEvent)} µs and Redis ${int(drain.resources.redis.cpuMicrosPerEvent)} µs per event read`
    : undefined;
  const memory = queue ? `Redis memory per queued event and destination: ${int(queue.redisBytesPerEvent)} B (INFO used_memory delta / (${int(queue.events)} events × ${names.length} destinations)); per queue from MEMORY USAGE of its keys in the table` : undefined;
  return [
    `Per destination (${names.length} destinations taking every event, one dispatcher serving all; events/s = events / time until that destination's last delivery)`,
    table(['Destination', 'Drain events/s', 'Dispatcher alone events/s', 'Queue B per event', ...(live ?? []).map((l) => `Live ${int(l.rate)}/s p50 / p99 ms`)], rows),
    ...[deliveryCpu, memory].filter((line): line is string => line !== undefined),
    '',
  ];
}

function filterSection(filter: FilterResult): string[] {
  const rows = filter.destinations.map((d) => [
    `${d.name}${d.filter ? ` (FILTER ${d.filter})` : ''}`,
    int(d.events),
    `${dec(100 * d.share, 2)} %`,
    int(d.queue.jobs),
    int(d.queue.bytes),
    int(d.queue.bytesPerEvent),
    dec(d.dispatch.seconds, 2),
    `${dec(d.dispatch.dispatcherCpuSeconds, 2)} (${int(d.dispatch.cpuMicrosPerDelivery)})`,
    dec(d.dispatch.redisCpuSeconds, 2),
    `${int(d.dispatch.redisScriptCalls)} / ${dec(d.dispatch.redisScriptSeconds, 2)} s`,
  ]);
  const r = filter.ratio;
  const pct = (x: number): string => `${dec(100 * x, 2)} %`;
  return [
    `One destination taking ~1 %: ${int(filter.events)} events into 3 queues by the ingester alone (${dec(filter.ingesterOnly.seconds, 1)} s, ${int(filter.ingesterOnly.eventsPerSecond)} events/s, ingester ${int(filter.ingesterOnly.resources.ingester?.cpuMicrosPerEvent)} µs per event; Redis +${dec(filter.redisBytes / 1_048_576, 1)} MiB in all), then each queue emptied alone by a dispatcher of its own`,
    table(['Destination', 'Events', 'Share', 'Jobs', 'Queue bytes', 'B per event', 'Empty s', 'Dispatcher CPU s (µs/delivery)', 'Redis CPU s', 'Lua calls / time'], rows),
    `Filtered destination / one taking all: events ${pct(r.events)}, jobs ${pct(r.jobs)}, Redis memory ${pct(r.redisBytes)}, dispatcher CPU ${pct(r.dispatcherCpu)}, Redis CPU ${pct(r.redisCpu)}, BullMQ Lua calls ${pct(r.redisScriptCalls)}`,
    '',
  ];
}

function isolationSection(iso: IsolationResult): string[] {
  const rows = (['baseline', 'outage'] as const).flatMap((key) =>
    iso[key].destinations.map((d) => [
      `${key === 'baseline' ? 'A healthy' : 'A answers 503'}: ${d.role} (${d.name})`,
      int(d.delivered),
      int(d.undelivered),
      dec(d.latencyMs.p50),
      dec(d.latencyMs.p90),
      dec(d.latencyMs.p99),
      dec(d.latencyMs.max),
    ]),
  );
  const a = iso.outage.a;
  return [
    `Isolation: ${int(iso.rate)} events/s to A, B and C for ${int(iso.seconds)} s (after the live warm-up), one dispatcher, default breaker settings; latency of each destination's first 2xx`,
    table(['Run: destination', 'Delivered', 'Undelivered', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'], rows),
    `B and C during A's outage / without it (target ≤ 1.2): B p50 ×${dec(iso.ratio.B.p50, 2)}, p99 ×${dec(iso.ratio.B.p99, 2)}; C p50 ×${dec(iso.ratio.C.p50, 2)}, p99 ×${dec(iso.ratio.C.p99, 2)}`,
    `A during its outage: ${int(a.rejected)} requests answered 503, breaker states seen: ${a.breakerStates.join(', ')}; ` +
      (a.allDelivered ? `every one of its ${int(iso.outage.publishedTotal)} events delivered, the last ${dec(a.caughtUpAfterSeconds, 1)} s after the outage ended` : `${int(a.missing)} of ${int(iso.outage.publishedTotal)} events NOT delivered`),
    '',
  ];
}

export function formatReport(results: BenchResults): string {
  const { drain, ceiling, queue, live, scaling, slow, filter, isolation } = results;
  const out: string[] = [];
  const w = results.workload;
  out.push(
    `${int(results.options.events)} events (mean ${int(w.meanBytes)} B, p50 ${int(w.p50Bytes)} B, p99 ${int(w.p99Bytes)} B, max ${int(w.maxBytes)} B), ` +
      `CONNECTOR_CONSUMER_COUNT=${results.options.concurrency}, node ${NODE_FLAGS.join(' ')}${results.options.nodeOptions ? `, NODE_OPTIONS=${results.options.nodeOptions}` : ''}, Redis ${results.machine.redis} with AOF everysec; ` +
      `${results.machine.cpus} × ${results.machine.cpuModel}, Node ${results.machine.node}; load average ${results.machine.loadStart.map((l) => l.toFixed(1)).join(' ')} → ${results.machine.loadEnd.map((l) => l.toFixed(1)).join(' ')}; ran ${dec(results.runSeconds, 0)} s`,
    '',
  );

  const throughput: string[][] = [];
  const vsCeiling = (rate: number): string => (ceiling ? `${dec((100 * rate) / ceiling.eventsPerSecond, 1)} %` : '–');
  if (drain) throughput.push(['Backlog drain: stream → ingester → Redis → 1 dispatcher → webhook', int(drain.events), dec(drain.seconds, 1), int(drain.eventsPerSecond), vsCeiling(drain.eventsPerSecond), cores(drain.cpu), `all enqueued after ${dec(drain.enqueuedAfterSeconds, 1)} s`]);
  if (ceiling) throughput.push([`Ceiling: bare undici request() loop, ${results.options.concurrency} in flight`, int(results.options.events), dec(ceiling.seconds, 1), int(ceiling.eventsPerSecond), '100 %', cores(ceiling.cpu), `receiver thread busy ${int(ceiling.check.receiverElu * 100)} %`]);
  if (queue) {
    throughput.push(['Ingester alone: stream → Redis (no dispatcher)', int(queue.events), dec(queue.ingesterOnly.seconds, 1), int(queue.ingesterOnly.eventsPerSecond), vsCeiling(queue.ingesterOnly.eventsPerSecond), cores(queue.cpu), '']);
    throughput.push(['Dispatcher alone: full queue → webhook', int(queue.events), dec(queue.dispatcherOnly.seconds, 1), int(queue.dispatcherOnly.eventsPerSecond), vsCeiling(queue.dispatcherOnly.eventsPerSecond), cores(queue.cpu), '']);
  }
  for (const s of slow?.drains ?? []) {
    const packing = s.eventsPerJob === undefined ? 'packs' : `INGESTER_EVENTS_PER_JOB=${s.eventsPerJob}`;
    throughput.push([`Slow receiver: ${int(s.backlog)}-event backlog, +${int(slow!.delayMs)} ms, ${int(slow!.concurrency)} in flight, ${packing}`, int(s.backlog), dec(s.seconds, 1), int(s.eventsPerSecond), '', cores(s.cpu), `bound ${int(slow!.boundEventsPerSecond)}/s (${int(s.ofBound)} %)`]);
  }
  for (const s of scaling ?? []) {
    throughput.push([`Scaling: ${s.dispatchers} dispatcher${s.dispatchers > 1 ? 's' : ''}, receiver answers after ${s.receiverDelayMs} ms`, int(s.events), dec(s.seconds, 1), int(s.eventsPerSecond), '', cores(s.cpu), `bound ${int(s.boundEventsPerSecond)}/s (${dec((100 * s.eventsPerSecond) / s.boundEventsPerSecond, 0)} %)`]);
  }
  if (throughput.length > 0) {
    out.push('Throughput (cores busy: this bench / other processes on the machine)', table(['Scenario', 'Events', 'Time s', 'Events/s', 'of ceiling', 'Cores busy', 'Note'], throughput), '');
    if (drain && ceiling) out.push(`Headline: pipeline / ceiling = ${vsCeiling(drain.eventsPerSecond)} (${int(drain.eventsPerSecond)} of ${int(ceiling.eventsPerSecond)} events/s)`, '');
  }

  if (live && live.length > 0) {
    out.push(
      `Live latency: emulator write → receiver 2xx, ${results.options.liveSeconds} s per rate after ${results.options.liveWarmupSeconds} s warm-up; commit lag = stream → Redis delay, waiting = queue depth (sampled every 250 ms)`,
      table(
        ['Rate/s', 'Events', 'Achieved/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'Undelivered', 'Max commit lag ms', 'Max waiting', 'CPU % ingester / dispatcher / redis', 'Cores busy'],
        live.map((l) => [int(l.rate), int(l.published), int(l.achievedRate), dec(l.latencyMs.p50), dec(l.latencyMs.p90), dec(l.latencyMs.p99), dec(l.latencyMs.max), int(l.undelivered), int(l.maxCommitLagMs), int(l.maxWaiting), `${int(l.cpuPercent.ingester)} / ${int(l.cpuPercent.dispatcher)} / ${int(l.cpuPercent.redis)}`, cores(l.cpu)]),
      ),
      '',
    );
  }

  out.push(...destinationSection(results));
  if (filter) out.push(...filterSection(filter));
  if (isolation) out.push(...isolationSection(isolation));

  if (drain) {
    const r = drain.resources;
    const selfMicros = (drain.cpu.selfSeconds * 1e6) / drain.events;
    // The dispatcher's figure is per delivery: an event read costs it one delivery per destination.
    const dispatcherPerEvent = ((r.dispatcher?.cpuMicrosPerEvent ?? 0) * drain.deliveries) / drain.events;
    const total = (r.ingester?.cpuMicrosPerEvent ?? 0) + dispatcherPerEvent + r.redis.cpuMicrosPerEvent + selfMicros;
    out.push(
      `CPU per event in the drain: ingester ${int(r.ingester?.cpuMicrosPerEvent)} + dispatcher ${int(dispatcherPerEvent)} + redis ${int(r.redis.cpuMicrosPerEvent)} + ` +
        `bench process (emulator, receiver) ${int(selfMicros)} = ${int(total)} µs, so even an idle ${results.machine.cpus}-core machine could drain at most ` +
        `~${int((results.machine.cpus * 1e6) / total)} events/s this way (10,000 events/s needs ≤ ${int((results.machine.cpus * 1e6) / 10_000)} µs in all)`,
      '',
    );
  }
  if (ceiling) {
    const micros = (ceiling.cpu.selfSeconds * 1e6) / results.options.events;
    out.push(`CPU per request in the ceiling (undici client + receiver, both in the bench process): ${int(micros)} µs, so ~${int((results.machine.cpus * 1e6) / micros)} requests/s on an idle ${results.machine.cpus}-core machine`, '');
  }

  const resourceRows: string[][] = [];
  if (drain) resourceRows.push(resourceRow('Backlog drain', drain.resources));
  if (queue) {
    resourceRows.push(resourceRow('Ingester alone', queue.ingesterOnly.resources));
    resourceRows.push(resourceRow('Dispatcher alone', queue.dispatcherOnly.resources));
  }
  for (const l of live ?? []) resourceRows.push(resourceRow(`Live ${int(l.rate)}/s (window only)`, l.resources));
  for (const s of scaling ?? []) resourceRows.push(resourceRow(`Scaling, ${s.dispatchers} dispatcher${s.dispatchers > 1 ? 's' : ''}`, s.resources));
  if (resourceRows.length > 0) {
    out.push(
      'Resources: CPU seconds (µs per event), peak RSS MiB (VmHWM); several dispatchers: CPU summed, RSS of the largest',
      table(['Scenario', 'Ingester CPU', 'Ingester RSS', 'Dispatcher CPU', 'Dispatcher RSS', 'Redis CPU', 'Redis RSS'], resourceRows),
      '',
    );
  }

  if (queue) {
    out.push(
      `Redis memory per queued event: ${int(queue.redisBytesPerEvent)} B (INFO used_memory delta / ${int(queue.events)}${queue.queues.length > 1 ? ` × ${queue.queues.length} destinations` : ''}; mean envelope ${int(queue.meanBodyBytes)} B; ` +
        `one job hash: ${int(queue.sampleJobBytes)} B; BullMQ events stream: ${dec(queue.eventsStreamBytes / 1_048_576, 1)} MiB)`,
    );
  }
  if (drain) {
    out.push(`AOF during the drain: ${int(drain.aof.rewrites)} rewrites (forks), which took ${dec(drain.resources.redis.childCpuSeconds, 1)} of the ${dec(drain.resources.redis.cpuSeconds, 1)} Redis CPU seconds; ${dec(drain.aof.currentBytes / 1_048_576, 0)} MiB at the end`);
    out.push(`Redis commands during the drain (calls × wall µs per call = total s; evalsha includes the commands its Lua scripts run, listed too, and exec the commands of its MULTI): ${drain.redisCommands.map((c) => `${c.command} ${int(c.calls)} × ${dec(c.usecPerCall, 1)} µs = ${dec(c.usec / 1e6, 2)} s`).join('; ')}`);
  }

  const problems = [
    ...checkProblems('drain', drain?.check),
    ...checkProblems('ceiling', ceiling?.check),
    ...checkProblems('dispatcher alone', queue?.dispatcherOnly.check),
    ...(live ?? []).flatMap((l) => checkProblems(`live ${l.rate}/s`, l.check)),
    ...(scaling ?? []).flatMap((s) => checkProblems(`scaling ${s.dispatchers}`, s.check)),
    ...(slow?.drains ?? []).flatMap((s) => checkProblems(`slow ${s.backlog}${s.eventsPerJob === undefined ? '' : ` (${s.eventsPerJob} per job)`}`, s.check)),
    ...(filter?.destinations ?? []).flatMap((d) => checkProblems(`filter ${d.name}`, d.check)),
    ...(isolation && !isolation.outage.a.allDelivered ? [`isolation: A misses ${isolation.outage.a.missing} events`] : []),
  ];
  const elus = [drain?.check.receiverElu, ceiling?.check.receiverElu].filter((e): e is number => e !== undefined);
  out.push(`Checks: ${problems.length === 0 ? 'every event delivered once, bodies intact' : problems.join('; ')}; receiver event loop busy at most ${int(Math.max(0, ...elus) * 100)} %`);

  const others = [drain?.cpu, ceiling?.cpu, queue?.cpu, ...(live ?? []).map((l) => l.cpu), ...(scaling ?? []).map((x) => x.cpu)].filter((c): c is CpuShare => c !== undefined);
  const worst = Math.max(0, ...others.map((c) => c.otherCores));
  if (worst >= 0.2) {
    out.push(`WARNING: other processes kept up to ${dec(worst, 1)} of ${results.machine.cpus} cores busy during this run; every number above is pessimistic. Rerun on a quiet machine.`);
  }

  if (drain?.profiles) {
    out.push('', 'CPU profiles of the drain (self time; the profiler itself slows the run down):');
    for (const [kind, summaries] of Object.entries(drain.profiles)) {
      for (const summary of summaries) out.push('', formatProfile(kind, summary));
    }
  }
  if (results.errors.length > 0) out.push('', `FAILED: ${results.errors.join('\n')}`);
  return out.join('\n');
}
