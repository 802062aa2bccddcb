import type { CallContext } from '@conga/common';
import type { Task__Output } from './generated/conga/services/executor/v1/Task';
import type { TaskStatus__Output } from './generated/conga/services/executor/v1/TaskStatus';
import type { ContainerSpec } from './generated/conga/services/executor/v1/ContainerSpec';
import type { Mount } from './generated/conga/services/executor/v1/Mount';
import type { CreateTaskRequest } from './generated/conga/services/executor/v1/CreateTaskRequest';
import type { StartTaskRequest } from './generated/conga/services/executor/v1/StartTaskRequest';
import type { KillTaskRequest } from './generated/conga/services/executor/v1/KillTaskRequest';
import type { DeleteTaskRequest } from './generated/conga/services/executor/v1/DeleteTaskRequest';
import type { GetTaskRequest } from './generated/conga/services/executor/v1/GetTaskRequest';
import type { ListTasksRequest } from './generated/conga/services/executor/v1/ListTasksRequest';
import type { ListTasksResponse__Output } from './generated/conga/services/executor/v1/ListTasksResponse';
import type { WaitTaskRequest } from './generated/conga/services/executor/v1/WaitTaskRequest';
import type { Empty__Output } from './generated/conga/services/common/v1/Empty';
import type { PauseTaskRequest } from './generated/conga/services/executor/v1/PauseTaskRequest';
import type { ResumeTaskRequest } from './generated/conga/services/executor/v1/ResumeTaskRequest';
import type { UpdateTaskRequest } from './generated/conga/services/executor/v1/UpdateTaskRequest';
import type { StatsTaskRequest } from './generated/conga/services/executor/v1/StatsTaskRequest';
import type { TaskStats__Output } from './generated/conga/services/executor/v1/TaskStats';
import type { ListPidsRequest } from './generated/conga/services/executor/v1/ListPidsRequest';
import type { ListPidsResponse__Output } from './generated/conga/services/executor/v1/ListPidsResponse';
import type { Resources } from './generated/conga/services/executor/v1/Resources';
import type { Rlimit } from './generated/conga/services/executor/v1/Rlimit';
import type { Device } from './generated/conga/services/executor/v1/Device';
import type { AttachTaskRequest } from './generated/conga/services/executor/v1/AttachTaskRequest';
import type { AttachTarget__Output } from './generated/conga/services/executor/v1/AttachTarget';
import type { ResizeTaskRequest } from './generated/conga/services/executor/v1/ResizeTaskRequest';
import type { CreateExecRequest } from './generated/conga/services/executor/v1/CreateExecRequest';
import type { StartExecRequest } from './generated/conga/services/executor/v1/StartExecRequest';
import type { WaitExecRequest } from './generated/conga/services/executor/v1/WaitExecRequest';
import type { ExecProcess__Output } from './generated/conga/services/executor/v1/ExecProcess';
import type { ExecSyncRequest } from './generated/conga/services/executor/v1/ExecSyncRequest';
import type { ExecSyncResponse__Output } from './generated/conga/services/executor/v1/ExecSyncResponse';

export type Task = Task__Output;
export type TaskStatus = TaskStatus__Output;
export type ListTasksResponse = ListTasksResponse__Output;
export type TaskStats = TaskStats__Output;
export type ListPidsResponse = ListPidsResponse__Output;
export type AttachTarget = AttachTarget__Output;
export type ExecProcess = ExecProcess__Output;
export type ExecSyncResponse = ExecSyncResponse__Output;
export type { AttachTaskRequest, ResizeTaskRequest, CreateExecRequest, StartExecRequest, WaitExecRequest, ExecSyncRequest };
export type { PauseTaskRequest, ResumeTaskRequest, UpdateTaskRequest, StatsTaskRequest, ListPidsRequest, Resources, Rlimit, Device };
export type {
  ContainerSpec, Mount, CreateTaskRequest, StartTaskRequest, KillTaskRequest, DeleteTaskRequest,
  GetTaskRequest, ListTasksRequest, WaitTaskRequest,
};

/**
 * The executor service (proto: conga.services.executor.v1.Tasks): OCI spec generation and
 * container processes run by runc under a conmon monitor. The service never parents containers:
 * it can be killed and restarted while they run. Implemented by libs/executor and the gRPC proxy.
 */
export interface ExecutorService {
  createTask(req: CreateTaskRequest, ctx: CallContext): Promise<Task>;
  startTask(req: StartTaskRequest, ctx: CallContext): Promise<Task>;
  killTask(req: KillTaskRequest, ctx: CallContext): Promise<Empty__Output>;
  deleteTask(req: DeleteTaskRequest, ctx: CallContext): Promise<Task>;
  getTask(req: GetTaskRequest, ctx: CallContext): Promise<Task>;
  listTasks(req: ListTasksRequest, ctx: CallContext): Promise<ListTasksResponse>;
  waitTask(req: WaitTaskRequest, ctx: CallContext): Promise<Task>;
  pauseTask(req: PauseTaskRequest, ctx: CallContext): Promise<Task>;
  resumeTask(req: ResumeTaskRequest, ctx: CallContext): Promise<Task>;
  updateTask(req: UpdateTaskRequest, ctx: CallContext): Promise<Empty__Output>;
  statsTask(req: StatsTaskRequest, ctx: CallContext): Promise<TaskStats>;
  listPids(req: ListPidsRequest, ctx: CallContext): Promise<ListPidsResponse>;
  /** Interactive I/O (exec/attach): see proto/conga/executor/v1/executor.proto. */
  attachTask(req: AttachTaskRequest, ctx: CallContext): Promise<AttachTarget>;
  resizeTask(req: ResizeTaskRequest, ctx: CallContext): Promise<Empty__Output>;
  createExec(req: CreateExecRequest, ctx: CallContext): Promise<ExecProcess>;
  startExec(req: StartExecRequest, ctx: CallContext): Promise<ExecProcess>;
  waitExec(req: WaitExecRequest, ctx: CallContext): Promise<ExecProcess>;
  execSync(req: ExecSyncRequest, ctx: CallContext): Promise<ExecSyncResponse>;
}
