/**
 * Summarises V8 .cpuprofile files (written by `node --cpu-prof`): self time summed by
 * function + script, and by package (bullmq, ioredis, undici, pino, node internals, this app,
 * garbage collector…).
 *
 * Standalone: `node dist/bench/cpuprofile.js <file.cpuprofile>… [--top 20]`
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  /** `function (file:line)` */
  name: string;
  /** Package or area the code belongs to. */
  area: string;
  selfMs: number;
  /** Share of the profile's busy time (idle excluded), percent. */
  percent: number;
  /** The caller that accounts for most of this self time (helps with native frames such as writev). */
  mainCaller: string;
}

export interface ProfileSummary {
  file: string;
  totalMs: number;
  idleMs: number;
  busyMs: number;
  top: ProfileEntry[];
  areas: Array<{ area: string; selfMs: number; percent: number }>;
}

const SPECIAL = new Set(['(garbage collector)', '(program)', '(idle)', '(root)']);

/** Where a script belongs: an npm package, a node built-in, this project, or a V8 pseudo-frame. */
export function areaOf(frame: CallFrame): string {
  if (SPECIAL.has(frame.functionName)) return frame.functionName;
  const { url } = frame;
  if (url === '') return '(native / V8 builtins)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg?.[1] !== undefined) return pkg[1];
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0] === 'internal' ? url.slice(5).split('/').slice(0, 2).join('/') : url.slice(5)}`;
  const app = /\/dist\/(.+)$/.exec(url);
  if (app?.[1] !== undefined) return `app:${app[1].split('/')[0]}`;
  return url;
}

function frameName(frame: CallFrame): string {
  const fn = frame.functionName || '(anonymous)';
  return frame.url === '' ? fn : `${fn} (${shortUrl(frame.url)}:${frame.lineNumber + 1})`;
}

function shortUrl(url: string): string {
  const pkg = /node_modules\/(.+)$/.exec(url);
  if (pkg?.[1] !== undefined) return pkg[1];
  const app = /\/dist\/(.+)$/.exec(url);
  if (app?.[1] !== undefined) return app[1];
  return url;
}

export function summariseProfile(file: string, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map<number, ProfileNode>(profile.nodes.map((node) => [node.id, node]));
  const selfByNode = new Map<number, number>();
  // Sample i lasts until sample i+1 (as Chrome DevTools counts it); timeDeltas[i] precedes sample i.
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i += 1) {
    const duration = i + 1 < timeDeltas.length ? (timeDeltas[i + 1] as number) : 0;
    const id = samples[i] as number;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + duration);
  }
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const byName = new Map<string, { area: string; us: number; callers: Map<string, number> }>();
  const byArea = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfByNode) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const frame = node.callFrame;
    totalUs += us;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const area = areaOf(frame);
    const name = frameName(frame);
    const entry = byName.get(name) ?? { area, us: 0, callers: new Map<string, number>() };
    entry.us += us;
    const parent = byId.get(parentOf.get(id) ?? -1);
    const caller = parent === undefined ? '' : frameName(parent.callFrame);
    entry.callers.set(caller, (entry.callers.get(caller) ?? 0) + us);
    byName.set(name, entry);
    byArea.set(area, (byArea.get(area) ?? 0) + us);
  }
  const busyUs = totalUs - idleUs;
  const pct = (us: number): number => (busyUs > 0 ? Math.round((1000 * us) / busyUs) / 10 : 0);
  return {
    file,
    totalMs: Math.round(totalUs / 1000),
    idleMs: Math.round(idleUs / 1000),
    busyMs: Math.round(busyUs / 1000),
    top: [...byName]
      .sort((a, b) => b[1].us - a[1].us)
      .slice(0, top)
      .map(([name, { area, us, callers }]) => ({
        name,
        area,
        selfMs: Math.round(us / 1000),
        percent: pct(us),
        mainCaller: [...callers].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '',
      })),
    areas: [...byArea]
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({ area, selfMs: Math.round(us / 1000), percent: pct(us) })),
  };
}

export function formatProfile(title: string, summary: ProfileSummary, areas = 12): string {
  const lines = [
    `${title}: ${summary.busyMs} ms busy, ${summary.idleMs} ms idle (${summary.file})`,
    '  self ms     %  function',
    ...summary.top.map((e) => `  ${String(e.selfMs).padStart(7)} ${e.percent.toFixed(1).padStart(5)}  ${e.name}${e.mainCaller === '' ? '' : `  ← ${e.mainCaller}`}`),
    '  by area:',
    ...summary.areas.slice(0, areas).map((a) => `  ${String(a.selfMs).padStart(7)} ${a.percent.toFixed(1).padStart(5)}  ${a.area}`),
  ];
  return lines.join('\n');
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const topIndex = args.indexOf('--top');
  const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 20;
  const files = topIndex < 0 ? args : args.filter((_, i) => i !== topIndex && i !== topIndex + 1);
  if (files.length === 0) {
    console.error('usage: node dist/bench/cpuprofile.js <file.cpuprofile>… [--top N]');
    process.exit(2);
  }
  for (const file of files) console.log(`${formatProfile('profile', summariseProfile(file, top))}\n`);
}
