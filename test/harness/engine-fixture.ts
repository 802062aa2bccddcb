import assert from 'node:assert/strict';
import { startRegistry, type TestRegistry } from './registry';
import { buildBusyboxImage, pushImage, type BusyboxImageOptions } from './busybox-image';
import { startDaemon, type Daemon, type Mode } from './daemon';

/**
 * The usual e2e setup in one call: a real registry, busybox images pushed to it and pulled by a
 * fresh congad. `images` names extra images (built with {@link buildBusyboxImage} options);
 * `refs.busybox` is always there. `stop()` removes everything, also after a failed start.
 */
export interface EngineFixture {
  reg: TestRegistry;
  d: Daemon;
  /** Pulled references by name ("busybox" and the keys of `images`). */
  refs: Record<string, string>;
  /** `conga ARGS` that must succeed; its stdout. */
  ok(args: string[], opts?: { timeoutMs?: number }): Promise<string>;
  /** GET /containers/{name}/json. */
  inspect(name: string): Promise<any>;
  stop(): Promise<void>;
}

export async function startEngineFixture(opts: { mode?: Mode; config?: Record<string, unknown>; images?: Record<string, BusyboxImageOptions> } = {}): Promise<EngineFixture> {
  let reg: TestRegistry | undefined;
  let d: Daemon | undefined;
  const stop = async () => {
    await d?.stop();
    await reg?.stop();
  };
  try {
    reg = await startRegistry();
    d = await startDaemon({ mode: opts.mode ?? 'all-in-one', config: opts.config });
    const daemon = d;
    const ok = async (args: string[], o: { timeoutMs?: number } = {}) => {
      const r = await daemon.cli(args, o);
      assert.equal(r.code, 0, `conga ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    const refs: Record<string, string> = {};
    for (const [name, io] of Object.entries({ busybox: {}, ...opts.images })) {
      refs[name] = (await pushImage(reg.host, name, 'latest', await buildBusyboxImage(io))).reference;
      await ok(['pull', refs[name]]);
    }
    return { reg, d, refs, ok, inspect: async (name) => (await daemon.api('GET', `/containers/${name}/json`)).body, stop };
  } catch (e) {
    await stop().catch(() => undefined);
    throw e;
  }
}

/** Poll `check` until it is true (every 100 ms), failing after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}
