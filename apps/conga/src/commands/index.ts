/**
 * The command table: names, one-line summaries and lazy loaders, so `conga ps` loads only ps.
 * Owner: CLI (apps/conga). Add a command here and as commands/<name>.ts.
 */
import type { CommandModule } from './types';

export interface CommandEntry {
  summary: string;
  load(): Promise<CommandModule>;
}

/** Every command, in --help order. */
export const COMMANDS: Record<string, CommandEntry> = {
  images: { summary: 'List images', load: () => import('./images') },
  info: { summary: 'Display system-wide information', load: () => import('./info') },
  logs: { summary: 'Fetch the logs of a container', load: () => import('./logs') },
  ps: { summary: 'List containers', load: () => import('./ps') },
  pull: { summary: 'Pull an image from a registry', load: () => import('./pull') },
  rm: { summary: 'Remove one or more containers', load: () => import('./rm') },
  run: { summary: 'Run a command in a new container', load: () => import('./run') },
  stop: { summary: 'Stop one or more running containers', load: () => import('./stop') },
  version: { summary: 'Show the Conga version information', load: () => import('./version') },
};
