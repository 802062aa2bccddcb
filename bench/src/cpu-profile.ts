/**
 * Summarise a V8 `.cpuprofile` (from `node --cpu-prof`) by component: self time per original
 * source file (via the bundle's source map) grouped as `libs/<lib>`, `node_modules/<pkg>`,
 * node internals, GC, idle. Usage:
 *   node --import tsx bench/src/cpu-profile.ts FILE.cpuprofile [--files]
 * Owner: benchmarks (bench/).
 */
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
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
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const maps = new Map<string, SourceMap | null>();
function mapFor(url: string): SourceMap | null {
  if (!maps.has(url)) {
    let sm: SourceMap | null = null;
    try {
      const file = url.startsWith('file://') ? fileURLToPath(url) : url;
      if (existsSync(`${file}.map`)) sm = new SourceMap(JSON.parse(readFileSync(`${file}.map`, 'utf8')));
    } catch {
      sm = null;
    }
    maps.set(url, sm);
  }
  return maps.get(url)!;
}

/** The original source file of a frame (bundles resolved through their source map). */
export function sourceOf(cf: CallFrame): string {
  if (!cf.url) return cf.functionName ? `(${cf.functionName.replace(/[()]/g, '')})` : '(native)';
  if (cf.url.startsWith('node:')) return cf.url;
  const sm = mapFor(cf.url);
  if (sm) {
    const e = sm.findEntry(cf.lineNumber, cf.columnNumber) as { originalSource?: string };
    if (e?.originalSource) return e.originalSource;
  }
  return cf.url;
}

/** A component name for a source file: libs/<lib>, node_modules/<pkg>, node:<internal group>… */
export function componentOf(source: string): string {
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(source);
  if (nm) return `npm:${nm[1]}`;
  const lib = /(libs|apps)\/([^/]+)\//.exec(source);
  if (lib) return `${lib[1]}/${lib[2]}`;
  if (source.startsWith('node:')) return `node:${source.slice(5).split('/')[0]}`;
  return source;
}

/** Self time (ms) per key. */
export function selfTime(p: CpuProfile, key: (cf: CallFrame) => string): Map<string, number> {
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const out = new Map<string, number>();
  p.samples.forEach((id, i) => {
    const k = key(byId.get(id)!);
    out.set(k, (out.get(k) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000);
  });
  return out;
}

function main(): void {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: cpu-profile.ts FILE.cpuprofile [--files]\n');
    process.exit(2);
  }
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byFile = process.argv.includes('--files');
  const t = selfTime(p, (cf) => (byFile ? sourceOf(cf) : componentOf(sourceOf(cf))));
  const total = [...t.values()].reduce((a, b) => a + b, 0);
  const busy = total - (t.get('(idle)') ?? 0);
  process.stdout.write(`total ${total.toFixed(0)} ms, busy (not idle) ${busy.toFixed(0)} ms\n`);
  for (const [k, ms] of [...t].sort((a, b) => b[1] - a[1]).slice(0, 40)) {
    process.stdout.write(`${ms.toFixed(0).padStart(8)} ms  ${((ms / busy) * 100).toFixed(1).padStart(5)}%  ${k}\n`);
  }
}

if (require.main === module) main();
