// Generates TypeScript types for proto/ into libs/api/src/generated (not committed).
// Runs as part of `npm run build`; tests and typecheck need it.
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync, mkdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const protoDir = join(root, 'proto');
const out = join(root, 'libs/api/src/generated');

function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.proto') ? [p] : [];
  });
}

const files = walk(protoDir).map((f) => relative(protoDir, f)).sort();
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
execFileSync(
  process.execPath,
  [
    join(root, 'node_modules/@grpc/proto-loader/build/bin/proto-loader-gen-types.js'),
    '--longs=Number', '--enums=String', '--defaults', '--oneofs', '--grpcLib=@grpc/grpc-js',
    '-I', protoDir, '--outDir', out, ...files,
  ],
  { stdio: ['ignore', 'ignore', 'inherit'], cwd: protoDir },
);
console.log(`gen-proto: ${files.length} proto files -> ${relative(root, out)}`);
