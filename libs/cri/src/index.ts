export * from './pod-store';
export * from './runtime-service';
export { startCri, openPodStore, criDir, type CriOptions } from './cri';
export { serveCri, criPackage, CRI_PROTO, type CriServer } from './transport/cri-server';
