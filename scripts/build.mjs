// Build: generate proto types, then bundle every app with esbuild into dist/apps/<app>/main.js
// (one CommonJS file each: fast start, no TS at run time), and copy proto/ next to them.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
execFileSync(process.execPath, [join(root, 'scripts/gen-proto.mjs')], { stdio: 'inherit' });

const apps = {
  conga: 'apps/conga/src/main.ts',
  congad: 'apps/congad/src/main.ts',
  'image-service': 'apps/image-service/src/main.ts',
  'storage-service': 'apps/storage-service/src/main.ts',
  'network-service': 'apps/network-service/src/main.ts',
  'executor-service': 'apps/executor-service/src/main.ts',
};
const only = process.argv.slice(2);
let gitCommit = '';
try {
  gitCommit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
} catch {
  /* not a git checkout */
}
const t0 = Date.now();
await Promise.all(
  Object.entries(apps)
    .filter(([name]) => only.length === 0 || only.includes(name))
    .map(([name, entry]) =>
      build({
        entryPoints: [join(root, entry)],
        outfile: join(root, 'dist/apps', name, 'main.js'),
        bundle: true,
        platform: 'node',
        target: 'node20',
        format: 'cjs',
        minify: false,
        sourcemap: 'linked',
        // Native addon: loaded from node_modules at run time.
        external: ['better-sqlite3'],
        define: { 'process.env.CONGA_GIT_COMMIT': JSON.stringify(gitCommit) },
        logLevel: 'warning',
        legalComments: 'none',
        // Written below, each file atomically: running daemons and tests never see a half file.
        write: false,
      }).then((r) => {
        for (const f of r.outputFiles) {
          mkdirSync(dirname(f.path), { recursive: true });
          const tmp = `${f.path}.tmp-${process.pid}`;
          writeFileSync(tmp, f.contents);
          renameSync(tmp, f.path);
        }
      }),
    ),
);
mkdirSync(join(root, 'dist'), { recursive: true });
cpSync(join(root, 'proto'), join(root, 'dist/proto'), { recursive: true });
console.log(`build: bundled ${only.length || Object.keys(apps).length} apps into dist/apps in ${Date.now() - t0} ms`);
