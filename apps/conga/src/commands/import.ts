/** `conga import file|- [REPOSITORY[:TAG]]`: POST /images/create?fromSrc=- with the tarball as body. Owner: image commands. */
import { createReadStream } from 'node:fs';
import { E } from '../errors';
import { postStream } from './image-stream';
import { splitRepoTag } from './tag';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'import',
  usage: '[OPTIONS] file|- [REPOSITORY[:TAG]]',
  summary: 'Import the contents from a tarball to create a filesystem image',
  minArgs: 1,
  maxArgs: 2,
  flags: [
    { name: 'change', short: 'c', kind: 'list', help: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', kind: 'string', help: 'Set commit message for imported image' },
    { name: 'platform', kind: 'string', help: 'Set platform if server is multi-platform capable' },
  ],
};

export async function run(ctx: CommandContext): Promise<number> {
  const { flags, args } = ctx.parsed;
  const src = args[0];
  if (/^[a-z]+:\/\//i.test(src)) throw E.InvalidArgument('importing from a URL is not supported: download the tarball first');
  const { repo, tag } = args[1] ? splitRepoTag(args[1]) : { repo: '', tag: '' };
  const changes = (flags.change as string[] | undefined) ?? [];
  const q = new URLSearchParams({ fromSrc: '-' });
  if (repo) q.set('repo', repo);
  if (tag) q.set('tag', tag);
  if (flags.message) q.set('message', String(flags.message));
  if (flags.platform) q.set('platform', String(flags.platform));
  for (const c of changes) q.append('changes', c);
  let id = '';
  await postStream(ctx.client(), `/images/create?${q.toString()}`, {
    body: src === '-' ? process.stdin : createReadStream(src),
    write: () => {},
    tty: false,
    columns: ctx.io.columns,
    onMessage: (m) => {
      if (m.status?.startsWith('sha256:')) id = m.status;
    },
  });
  ctx.io.out(`${id}\n`);
  return 0;
}
