/** The CLI's own version (from apps/conga/package.json). Owner: CLI (apps/conga). */
import pkg from '../package.json';

export const CLI_VERSION: string = (pkg as { version: string }).version;
