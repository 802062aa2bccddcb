import { layout } from '@conga/common';
import { exitOnError, runServiceMain } from '@conga/rpc';
import { createExecutorService } from '@conga/executor';

// executor-service: OCI spec + runc under conmon, served over gRPC (split mode). Containers
// keep running when this process dies.
runServiceMain('executor', ({ paths, config, log }) =>
  createExecutorService({
    runDir: layout.executorRunDir(paths),
    runtime: config.runtimes[config['default-runtime']]?.path ?? 'runc',
    conmon: config.conmon,
    cgroupParent: config['cgroup-parent'],
    log,
  }),
).catch(exitOnError);
