// `npm run bench [-- --only start,memory --n 100 --repeat 3]`: the side-by-side benchmark
// (bench/src, TypeScript run through tsx). Needs root and a build (`npm run build`).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const env = { ...process.env, CONGA_REPO: root };
const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench/src/main.ts'), ...process.argv.slice(2)], { cwd: root, stdio: 'inherit', env });
process.exit(r.status ?? 1);
