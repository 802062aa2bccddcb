// `npm run soak`: the fault-injection churn (test/faults) for 30 minutes by default.
// Env: SOAK_MINUTES, SOAK_WORKERS, SOAK_CHECK_MINUTES, SOAK_MODE (all-in-one|split).
// Builds first, then runs from a private copy of dist/ and bin/ (.soak/, inside the repo so
// node_modules resolve), so a rebuild during the 30 minutes cannot pull the binaries away.
import { spawnSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const build = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const snap = join(root, '.soak');
rmSync(snap, { recursive: true, force: true });
cpSync(join(root, 'dist'), join(snap, 'dist'), { recursive: true });
cpSync(join(root, 'bin'), join(snap, 'bin'), { recursive: true });
const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/faults/soak.ts'], { cwd: root, stdio: 'inherit', env: { ...process.env, CONGA_REPO: snap } });
rmSync(snap, { recursive: true, force: true });
process.exit(r.status ?? 1);
