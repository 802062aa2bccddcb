/** CRI streaming (exec/attach/port-forward over SPDY/3.1 and WebSocket); see streaming-server.ts. */
export * from './types';
export * from './streaming-server';
export * from './engine-backend';
