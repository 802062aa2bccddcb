import { join } from 'node:path';

/**
 * Where every component keeps its state, from the daemon's --root (persistent) and --run
 * (runtime, tmpfs) directories. One place so that split-mode services agree with congad.
 */
export interface Paths {
  root: string;
  run: string;
}

export const defaultPaths: Paths = { root: '/var/lib/conga', run: '/run/conga' };

export const layout = {
  engineSocket: (p: Paths) => join(p.run, 'conga.sock'),
  criSocket: (p: Paths) => join(p.run, 'cri.sock'),
  serviceSocket: (p: Paths, svc: ServiceName) => join(p.run, 'services', `${svc}.sock`),
  imageDir: (p: Paths) => join(p.root, 'image'),
  storageDir: (p: Paths) => join(p.root, 'storage'),
  networkDir: (p: Paths) => join(p.root, 'network'),
  networkRunDir: (p: Paths) => join(p.run, 'network'),
  executorRunDir: (p: Paths) => join(p.run, 'executor'),
  engineDir: (p: Paths) => join(p.root, 'engine'),
};

export type ServiceName = 'image' | 'storage' | 'network' | 'executor';
export const serviceNames: readonly ServiceName[] = ['image', 'storage', 'network', 'executor'];
