export * from './engine';
export * from './containers';
export * from './container-types';
export * from './compose';
export * from './services';
export * from './logs';
export { createApiServer, listenUnix } from './api/server';
