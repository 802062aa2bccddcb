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
  attach: { summary: 'Attach local standard input, output, and error streams to a running container', load: () => import('./attach') },
  completion: { summary: 'Generate the shell completion script for bash or zsh', load: () => import('./completion') },
  container: { summary: 'Manage containers', load: () => import('./container') },
  cp: { summary: 'Copy files/folders between a container and the local filesystem', load: () => import('./cp') },
  create: { summary: 'Create a new container', load: () => import('./create') },
  diff: { summary: "Inspect changes to files or directories on a container's filesystem", load: () => import('./diff') },
  events: { summary: 'Get real time events from the server', load: () => import('./events') },
  exec: { summary: 'Execute a command in a running container', load: () => import('./exec') },
  export: { summary: "Export a container's filesystem as a tar archive", load: () => import('./export') },
  history: { summary: 'Show the history of an image', load: () => import('./history') },
  image: { summary: 'Manage images', load: () => import('./image') },
  images: { summary: 'List images', load: () => import('./images') },
  import: { summary: 'Import the contents from a tarball to create a filesystem image', load: () => import('./import') },
  info: { summary: 'Display system-wide information', load: () => import('./info') },
  inspect: { summary: 'Return low-level information on Conga objects', load: () => import('./inspect') },
  kill: { summary: 'Kill one or more running containers', load: () => import('./kill') },
  load: { summary: 'Load an image from a tar archive or STDIN', load: () => import('./load') },
  login: { summary: 'Log in to a registry', load: () => import('./login') },
  logout: { summary: 'Log out from a registry', load: () => import('./logout') },
  logs: { summary: 'Fetch the logs of a container', load: () => import('./logs') },
  network: { summary: 'Manage networks', load: () => import('./network') },
  pause: { summary: 'Pause all processes within one or more containers', load: () => import('./pause') },
  port: { summary: 'List port mappings or a specific mapping for the container', load: () => import('./port') },
  ps: { summary: 'List containers', load: () => import('./ps') },
  pull: { summary: 'Pull an image from a registry', load: () => import('./pull') },
  push: { summary: 'Upload an image to a registry', load: () => import('./push') },
  rename: { summary: 'Rename a container', load: () => import('./rename') },
  restart: { summary: 'Restart one or more containers', load: () => import('./restart') },
  rm: { summary: 'Remove one or more containers', load: () => import('./rm') },
  rmi: { summary: 'Remove one or more images', load: () => import('./rmi') },
  run: { summary: 'Run a command in a new container', load: () => import('./run') },
  save: { summary: 'Save one or more images to a tar archive (streamed to STDOUT by default)', load: () => import('./save') },
  start: { summary: 'Start one or more stopped containers', load: () => import('./start') },
  stats: { summary: 'Display a live stream of container(s) resource usage statistics', load: () => import('./stats') },
  stop: { summary: 'Stop one or more running containers', load: () => import('./stop') },
  tag: { summary: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE', load: () => import('./tag') },
  top: { summary: 'Display the running processes of a container', load: () => import('./top') },
  unpause: { summary: 'Unpause all processes within one or more containers', load: () => import('./unpause') },
  update: { summary: 'Update configuration of one or more containers', load: () => import('./update') },
  version: { summary: 'Show the Conga version information', load: () => import('./version') },
  volume: { summary: 'Manage volumes', load: () => import('./volume') },
  wait: { summary: 'Block until one or more containers stop, then print their exit codes', load: () => import('./wait') },
};
