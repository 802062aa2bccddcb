/**
 * `npm run bench` entry (run through tsx by scripts/bench.mjs). Owner: benchmarks (bench/).
 */
import { join } from 'node:path';
import { REPO } from '../../test/harness/daemon';
import { USAGE, parseOptions } from './options';
import { runBench } from './run-bench';

async function main(): Promise<number> {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2), join(REPO, 'bench', 'results'));
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (!opts) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: must run as root (it mounts overlays and runs runc, dockerd and podman)\n');
    return 1;
  }
  await runBench(opts);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`bench: ${(e as Error)?.stack ?? String(e)}\n`);
    process.exit(1);
  },
);
