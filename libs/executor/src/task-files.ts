import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * On-disk layout of the executor's run directory (everything a restarted executor needs):
 *   <runDir>/<id>/task.json    {@link TaskMeta}
 *   <runDir>/<id>/pidfile      container init pid (runc)
 *   <runDir>/<id>/conmon.pid   monitor pid (conmon)
 *   <runDir>/<id>/conmon.log   monitor's own stderr
 *   <runDir>/<id>/oom          created by conmon when the task's cgroup had an OOM kill
 *   <runDir>/exits/<id>        exit code, written by conmon when the container exits
 *   <runDir>/sockets/<id>      conmon's attach-socket link (to the bundle)
 *   <runDir>/runc              runc's private state root
 * Internal to the executor; may change with a migration note.
 */
export class TaskFiles {
  constructor(readonly runDir: string) {}
  get exitsDir(): string {
    return join(this.runDir, 'exits');
  }
  get socketsDir(): string {
    return join(this.runDir, 'sockets');
  }
  get runcRoot(): string {
    return join(this.runDir, 'runc');
  }
  taskDir(id: string): string {
    return join(this.runDir, id);
  }
  metaFile(id: string): string {
    return join(this.taskDir(id), 'task.json');
  }
  pidFile(id: string): string {
    return join(this.taskDir(id), 'pidfile');
  }
  monitorPidFile(id: string): string {
    return join(this.taskDir(id), 'conmon.pid');
  }
  monitorLog(id: string): string {
    return join(this.taskDir(id), 'conmon.log');
  }
  /** Created by conmon (its persist dir and working directory) when the cgroup hit an OOM kill. */
  oomFile(id: string): string {
    return join(this.taskDir(id), 'oom');
  }
  exitFile(id: string): string {
    return join(this.exitsDir, id);
  }
  socketLink(id: string): string {
    return join(this.socketsDir, id);
  }
}

/** What the executor records about a task at create/start (task.json). */
export interface TaskMeta {
  id: string;
  bundleDir: string;
  logPath: string;
  cgroupsPath: string;
  createdAt: string;
  /** conmon's pid and /proc start time (0/'' until the monitor reported). */
  monitorPid: number;
  monitorStartTime: string;
  /** Set by startTask. */
  startedAt: string;
  /** /proc start time of the container's init (pidfile), so its liveness is known without runc. */
  pidStartTime?: string;
  /** The container has a pid namespace of its own: SIGKILL to its init ends all its processes. */
  ownPidNs?: boolean;
  /** Set by pauseTask, cleared by resumeTask (the state runc would report as "paused"). */
  paused?: boolean;
  /** Log rotation (CreateTaskRequest.log_max_size / log_max_files), absent when none. */
  logMaxSize?: number;
  logMaxFiles?: number;
}

export function readMeta(files: TaskFiles, id: string): TaskMeta | undefined {
  try {
    return JSON.parse(readFileSync(files.metaFile(id), 'utf8')) as TaskMeta;
  } catch {
    return undefined;
  }
}

/** Write task.json atomically (tmp + rename), so a crash never leaves half a file. */
export function writeMeta(files: TaskFiles, meta: TaskMeta): void {
  const tmp = `${files.metaFile(meta.id)}.tmp`;
  writeFileSync(tmp, JSON.stringify(meta));
  renameSync(tmp, files.metaFile(meta.id));
}

/** Read a small integer file (pid, exit code); undefined when absent or not (yet) complete. */
export function readIntFile(path: string): number | undefined {
  try {
    const s = readFileSync(path, 'utf8').trim();
    if (!/^-?\d+$/.test(s)) return undefined;
    return Number(s);
  } catch {
    return undefined;
  }
}
