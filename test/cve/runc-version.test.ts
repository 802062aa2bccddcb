import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E, silentLogger } from '@conga/common';
import { createExecutorService } from '../../libs/executor/src/executor-service';
import { checkRuntime, judgeRuntime, parseRuntimeVersion } from '../../libs/executor/src/runtime-check';

/**
 * CVE-2019-5736 (runc binary overwritten through /proc/self/exe) and CVE-2024-21626 (leaked fd,
 * cwd escapes to the host): the executor refuses to start with a runc that lacks the fixes,
 * deciding by the upstream version and by the distribution's patched revision.
 */

const out = (version: string, commit: string) => `runc version ${version}\ncommit: ${commit}\nspec: 1.0.2-dev\ngo: go1.19.8\nlibseccomp: 2.5.4\n`;

test('CVE-2019-5736 / CVE-2024-21626: runc versions are judged by upstream version and Debian revision', () => {
  const cases: Array<[string, string, boolean, RegExp?]> = [
    ['1.1.5+ds1', '1.1.5+ds1-1+deb12u1', true], // Debian 12 with DSA-5615-1 (this machine)
    ['1.1.5+ds1', '1.1.5+ds1-1+deb12u2', true],
    ['1.1.5+ds1', '1.1.5+ds1-1', false, /CVE-2024-21626/], // bookworm before the security update
    ['1.1.12', 'v1.1.12-0-g51d5e946', true],
    ['1.2.0', 'v1.2.0-0-gabc', true],
    ['1.1.11', 'v1.1.11-0-g4bccb38c', false, /CVE-2024-21626/],
    ['1.0.0-rc6', 'abc', false, /CVE-2019-5736 and CVE-2024-21626/],
    ['1.0.0~rc93+ds1', '1.0.0~rc93+ds1-5+deb11u2', false, /CVE-2024-21626/],
    ['1.0.0-rc92', 'ff819c7e', false, /CVE-2024-21626/],
    ['garbage', '', false, /cannot read/],
  ];
  for (const [version, commit, ok, why] of cases) {
    const v = parseRuntimeVersion(out(version, commit));
    assert.equal(v.version, version);
    const verdict = judgeRuntime(v);
    assert.equal(verdict.ok, ok, `${version} / ${commit}: ${verdict.reason}`);
    if (why) assert.match(verdict.reason, why);
  }
  assert.equal(judgeRuntime(parseRuntimeVersion('crun version 1.8.1\ncommit: abc\n')).ok, true, 'other runtimes are not judged');
});

test('CVE-2019-5736 / CVE-2024-21626: the installed runc passes the check', async () => {
  const v = await checkRuntime('/usr/sbin/runc', { log: silentLogger(), allow: false });
  assert.equal(v.ok, true, v.reason);
});

test('CVE-2019-5736 / CVE-2024-21626: the executor refuses an old runc with a clear message, unless overridden', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'conga-oldrunc-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fake = join(dir, 'runc');
  writeFileSync(fake, `#!/bin/sh\nprintf 'runc version 1.1.5+ds1\\ncommit: 1.1.5+ds1-1\\nspec: 1.0.2-dev\\n'\n`);
  chmodSync(fake, 0o755);
  await assert.rejects(
    createExecutorService({ runDir: join(dir, 'run'), runtime: fake, log: silentLogger(), allowVulnerableRuntime: false }),
    (e: unknown) => {
      assert.ok(E.RuntimeVulnerable.is(e), String(e));
      assert.match(e.message, /CVE-2024-21626/);
      assert.match(e.message, /1\.1\.12/);
      assert.match(e.message, /CONGA_ALLOW_VULNERABLE_RUNTIME=1/);
      return true;
    },
  );
  const svc = await createExecutorService({ runDir: join(dir, 'run2'), runtime: fake, log: silentLogger(), allowVulnerableRuntime: true });
  await svc.close();
});
