export * from './image';
export * from './storage';
export * from './network';
export * from './executor';
export type { Progress__Output as ProgressMessage } from './generated/conga/services/common/v1/Progress';
