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

export type Task = Task__Output;
export type TaskStatus = TaskStatus__Output;
export type ListTasksResponse = ListTasksResponse__Output;
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
}
