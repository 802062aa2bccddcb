/** `conga login [SERVER]`: POST /auth; the daemon checks and stores the credentials (0600, per host). Owner: image commands. */
import { E } from '../errors';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'login',
  usage: '[OPTIONS] [SERVER]',
  summary: 'Log in to a registry',
  maxArgs: 1,
  flags: [
    { name: 'username', short: 'u', kind: 'string', help: 'Username' },
    { name: 'password', short: 'p', kind: 'string', help: 'Password' },
    { name: 'password-stdin', kind: 'bool', help: 'Take the password from stdin' },
  ],
};

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '')));
    process.stdin.on('error', reject);
  });
}

export async function run(ctx: CommandContext): Promise<number> {
  const { flags, args } = ctx.parsed;
  const username = String(flags.username ?? '');
  let password = String(flags.password ?? '');
  if (flags['password-stdin']) {
    if (password) throw E.InvalidArgument('--password and --password-stdin are mutually exclusive');
    if (!username) throw E.InvalidArgument('Must provide --username with --password-stdin');
    password = await readStdin();
  } else if (password) {
    ctx.io.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
  }
  if (!username || !password) throw E.InvalidArgument('conga login needs --username and a password (--password-stdin); interactive prompts are not supported');
  const res = await ctx.client().json<{ Status?: string }>('POST', '/auth', { body: { username, password, serveraddress: args[0] ?? '' } });
  ctx.io.out(`${res?.Status ?? 'Login Succeeded'}\n`);
  return 0;
}
