import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { E } from '@conga/common';
import type { TaskFiles } from './task-files';

/** Inputs for {@link startMonitor}. Internal to the executor. */
export interface MonitorOptions {
  conmon: string;
  runtime: string;
  files: TaskFiles;
  id: string;
  bundleDir: string;
  logPath: string;
  terminal: boolean;
  stdin: boolean;
  /** Close the container's stdin when an attached client closes its input (else --leave-stdin-open). */
  stdinOnce?: boolean;
  logLevel: string;
  timeoutMs: number;
}

/** What conmon reported once `runc create` succeeded. */
export interface MonitorStarted {
  /** The container's init pid. */
  pid: number;
  /** Pid of the first conmon process (the session/process-group leader we spawned). */
  spawnPid: number;
}

/** conmon's argv for creating container `o.id` (explicit, one flag per line of intent). */
export function conmonArgs(o: MonitorOptions): string[] {
  const f = o.files;
  const args = [
    '--api-version', '1',
    '-c', o.id,
    '-u', o.id,
    '-n', o.id,
    '-r', o.runtime,
    '-b', o.bundleDir,
    '-p', f.pidFile(o.id),
    '-P', f.monitorPidFile(o.id),
    '--exit-dir', f.exitsDir,
    '--persist-dir', f.taskDir(o.id),
    '--socket-dir-path', f.socketsDir,
    '--log-level', o.logLevel,
    '--runtime-arg', `--root=${f.runcRoot}`,
  ];
  if (o.logPath) args.push('-l', `k8s-file:${o.logPath}`);
  else args.push('-l', 'none:');
  if (o.terminal) args.push('-t');
  if (o.stdin) args.push('-i');
  if (o.stdin && !o.stdinOnce) args.push('--leave-stdin-open');
  return args;
}

/**
 * Start conmon for a container and wait (at most `timeoutMs`) for its report on the sync pipe:
 * `{"data": <pid>}` after `runc create` succeeded, a negative number and a message otherwise.
 * conmon runs in its own session and daemonizes: nothing here keeps it tied to this process.
 * On failure or timeout the spawned process group is killed; the caller cleans runc state.
 */
export function startMonitor(o: MonitorOptions): Promise<MonitorStarted> {
  const errFd = openSync(o.files.monitorLog(o.id), 'a', 0o600);
  let child;
  try {
    child = spawn(o.conmon, conmonArgs(o), {
      // conmon also writes its `oom` file into its working directory: keep it in the task dir.
      cwd: o.files.taskDir(o.id),
      detached: true,
      stdio: ['ignore', errFd, errFd, 'pipe'],
      env: { ...monitorEnv(), _OCI_SYNCPIPE: '3' },
    });
  } finally {
    closeSync(errFd);
  }
  const spawnPid = child.pid ?? 0;
  const sync = child.stdio[3] as Readable;
  return new Promise<MonitorStarted>((resolve, reject) => {
    let buf = '';
    let done = false;
    const finish = (err: Error | undefined, pid?: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sync.removeAllListeners('data');
      sync.on('error', () => undefined);
      sync.destroy();
      child.unref();
      if (err) {
        if (spawnPid > 0) {
          try {
            process.kill(-spawnPid, 'SIGKILL');
          } catch {
            /* group already gone */
          }
        }
        reject(err);
      } else resolve({ pid: pid!, spawnPid });
    };
    const timer = setTimeout(
      () => finish(E.RuntimeFailed('create', `the monitor (conmon) did not report within ${o.timeoutMs} ms`)),
      o.timeoutMs,
    );
    child.on('error', (e) => finish(E.RuntimeFailed('create', `cannot start the monitor ${o.conmon}: ${e.message}`)));
    sync.setEncoding('utf8');
    sync.on('error', () => undefined);
    sync.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      let msg: { data?: number; message?: string };
      try {
        msg = JSON.parse(buf.slice(0, nl));
      } catch {
        finish(E.RuntimeFailed('create', `unexpected report from the monitor: ${buf.slice(0, 200)}`));
        return;
      }
      if (typeof msg.data === 'number' && msg.data > 0) finish(undefined, msg.data);
      else finish(E.RuntimeFailed('create', cleanMessage(msg.message) || `the monitor reported ${msg.data}`));
    });
    sync.on('end', () =>
      finish(E.RuntimeFailed('create', `the monitor (conmon) exited without reporting a result`)),
    );
  });
}

/** runc's logrus line inside conmon's message, reduced to its msg="..." part. */
function cleanMessage(m: string | undefined): string {
  if (!m) return '';
  const mm = /msg="((?:[^"\\]|\\.)*)"/.exec(m);
  return (mm ? mm[1].replace(/\\"/g, '"') : m).trim();
}

/** Our environment minus any inherited conmon pipe variables (only the sync pipe is ours). */
function monitorEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('_OCI_')) env[k] = v;
  return env;
}
