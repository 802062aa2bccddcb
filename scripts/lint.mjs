// Lint: type errors (tsc, whole program, reported for the given project paths) and module
// boundaries: which projects may import the heavy or transport packages.
//   node scripts/lint.mjs [project paths...]     (no path: every project)
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const targets = process.argv.slice(2).map((p) => p.replace(/\/$/, ''));
const inScope = (f) => targets.length === 0 || targets.some((t) => f.startsWith(t + '/'));

// package → project path prefixes allowed to import it
const BOUNDARIES = {
  '@grpc/grpc-js': ['libs/rpc', 'libs/api', 'libs/cri/src/transport'],
  '@grpc/proto-loader': ['libs/rpc', 'libs/api', 'libs/cri/src/transport'],
  fastify: ['libs/engine'],
  'better-sqlite3': ['libs/image', 'libs/storage', 'libs/engine', 'libs/network', 'libs/executor', 'libs/cri'],
  ws: ['libs/cri/src/streaming', 'libs/engine/src/api'],
  bullmq: ['libs/queue'],
  ioredis: ['libs/queue'],
};
// The CLI must start fast: it may import only node built-ins, its own files and the error
// catalog (plain data: one catalog for the whole project).
const CLI = 'apps/conga';
const CLI_ALLOWED = /^@conga\/common\/src\/errors\//;

let problems = 0;
function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    if (n === 'node_modules' || n === 'generated') return [];
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}
for (const top of ['libs', 'apps']) {
  for (const file of walk(join(root, top))) {
    const rel = relative(root, file);
    if (!inScope(rel) || rel.endsWith('.test.ts')) continue;
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(/(?:^|\s)(?:from|import)\s*\(?\s*['"]([\w@./:-]+)['"]/gm)) {
      const spec = m[1];
      if (rel.startsWith(CLI + '/') && !spec.startsWith('.') && !spec.startsWith('node:') && !CLI_ALLOWED.test(spec)) {
        console.log(`${rel}: the CLI imports "${spec}"; it may use only node built-ins and its own files`);
        problems++;
      }
      const allowed = BOUNDARIES[spec];
      if (allowed && !allowed.some((a) => rel.startsWith(a + '/'))) {
        console.log(`${rel}: imports "${spec}", allowed only in ${allowed.join(', ')}`);
        problems++;
      }
      if (rel.startsWith('libs/') && spec.startsWith('@conga/') && /-service$|^@conga\/(cli|congad)$/.test(spec)) {
        console.log(`${rel}: a lib imports the app "${spec}"`);
        problems++;
      }
    }
  }
}
try {
  execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(root, 'tsconfig.json'), '--noEmit', '--pretty', 'false'], { encoding: 'utf8', stdio: 'pipe' });
} catch (e) {
  const lines = String(e.stdout).split('\n').filter((l) => l.trim() && inScope(l.split('(')[0]));
  for (const l of lines) console.log(l);
  problems += lines.filter((l) => / error TS/.test(l)).length;
}
console.log(problems ? `lint: ${problems} problem(s)` : 'lint: ok');
process.exit(problems ? 1 : 0);
