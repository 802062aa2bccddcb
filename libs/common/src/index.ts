export * from './errors';
export * from './logging';
export * from './context';
export * from './progress';
export * from './config';
export * from './paths';
export * from './digest';
export * from './keyed-mutex';
