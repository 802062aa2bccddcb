export * from './kinds';
export * from './conga-error';
export * as E from './catalog';
