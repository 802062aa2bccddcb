export * from './proto';
export * from './status';
export * from './server';
export * from './proxy';
export * from './service-main';
export * from './health';
export * from './endpoint';
export * from './metrics';
