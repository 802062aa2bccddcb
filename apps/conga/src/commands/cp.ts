/**
 * `conga cp [-a] [-L] SRC DST`: copy between a container and the host through
 * HEAD/GET/PUT /containers/{id}/archive, with docker's rules (a trailing "/." copies a
 * directory's contents, "-" is a tar on stdin/stdout). Owner: CLI cp.
 */
import * as http from 'node:http';
import { lstat, stat } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { apiPath, daemonError, errorMessage, readText, type ApiClient, type Query } from '../client';
import { E } from '../errors';
import { humanSize } from '../humanize';
import { extractToHost, tarHostPath } from './cp-archive';
import type { CommandContext, CommandSpec } from './types';

export const spec: CommandSpec = {
  name: 'cp',
  usage: '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tconga cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
  summary: 'Copy files/folders between a container and the local filesystem',
  minArgs: 2,
  maxArgs: 2,
  flags: [
    { name: 'archive', short: 'a', kind: 'bool', help: 'Archive mode (copy all uid/gid information)' },
    { name: 'follow-link', short: 'L', kind: 'bool', help: 'Always follow symbol link in SRC_PATH' },
    { name: 'quiet', short: 'q', kind: 'bool', help: 'Suppress progress output during copy' },
  ],
};

interface PathStat {
  name: string;
  size: number;
  mode: number;
  linkTarget: string;
}

const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;
const isDir = (s: PathStat) => s.mode >= GO_DIR;
const isLink = (s: PathStat) => Math.floor(s.mode / GO_SYMLINK) % 2 === 1;
/** docker: "dir/." means the directory's contents. */
const contentsOf = (p: string) => /(^|\/)\.$/.test(p);
const endsWithSep = (p: string) => p.endsWith('/') || contentsOf(p);

/** docker's splitCpArg: "name:path" is a container path unless it looks like a local path. */
export function splitCpArg(arg: string): { container: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.')) return { container: '', path: arg };
  const i = arg.indexOf(':');
  if (i <= 0 || arg.slice(0, i).includes('/')) return { container: '', path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

/** A raw Engine API request (streamed body, headers kept); rejects with the daemon's error. */
function send(client: ApiClient, method: string, path: string, query: Query, body?: Readable): Promise<http.IncomingMessage> {
  const headers: http.OutgoingHttpHeaders = { 'User-Agent': 'conga-cli', Host: 'conga' };
  if (body) headers['Content-Type'] = 'application/x-tar';
  else if (method === 'PUT') headers['Content-Length'] = 0;
  const req = http.request({ socketPath: client.host.socketPath, method, path: apiPath(path, query), headers, agent: false });
  return new Promise((resolvePromise, reject) => {
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? E.DaemonUnreachable(client.host.uri) : E.DaemonStreamError(`request failed: ${err.message}`)),
    );
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status < 400) return resolvePromise(res);
      readText(res).then((text) => reject(daemonError(status, errorMessage(text, status))), reject);
    });
    if (body) {
      body.on('error', (e) => req.destroy(e));
      body.pipe(req);
    } else req.end();
  });
}

function decodeStat(res: http.IncomingMessage): PathStat {
  const h = res.headers['x-docker-container-path-stat'];
  if (typeof h !== 'string') throw E.DaemonStreamError('the daemon sent no X-Docker-Container-Path-Stat header');
  return JSON.parse(Buffer.from(h, 'base64').toString('utf8')) as PathStat;
}

/** HEAD stat of a container path; undefined when it does not exist. */
async function statIn(client: ApiClient, container: string, path: string): Promise<PathStat | undefined> {
  try {
    const res = await send(client, 'HEAD', `/containers/${encodeURIComponent(container)}/archive`, { path });
    res.resume();
    return decodeStat(res);
  } catch (e) {
    // A HEAD answer has no body: a 404 is either the container or the path; GET/PUT tell which.
    if (E.DaemonNotFound.is(e)) return undefined;
    throw e;
  }
}

/** Counts bytes going through (for "Successfully copied"). */
async function* counted(src: AsyncIterable<Buffer>, count: { n: number }): AsyncGenerator<Buffer> {
  for await (const c of src) {
    count.n += c.length;
    yield c;
  }
}

export async function run(ctx: CommandContext): Promise<number> {
  const { flags, args } = ctx.parsed;
  const src = splitCpArg(args[0]);
  const dst = splitCpArg(args[1]);
  if (src.container && dst.container) throw E.InvalidArgument('copying between containers is not supported');
  if (!src.container && !dst.container) throw E.InvalidArgument('must specify at least one container source');
  const client = ctx.client();
  const count = { n: 0 };
  if (src.container) {
    const to = args[1];
    await copyFrom(client, src.container, src.path, to, !!flags['follow-link'], count);
    if (!flags.quiet && to !== '-') ctx.io.err(`Successfully copied ${humanSize(count.n)} to ${to}\n`);
  } else {
    await copyTo(client, src.path, dst.container, dst.path, { archive: !!flags.archive, follow: !!flags['follow-link'] }, count);
    if (!flags.quiet) ctx.io.err(`Successfully copied ${humanSize(count.n)} to ${args[1]}\n`);
  }
  return 0;
}

async function copyFrom(client: ApiClient, container: string, path: string, to: string, follow: boolean, count: { n: number }): Promise<void> {
  let srcPath = path;
  if (follow) {
    const st = await statIn(client, container, path);
    if (st && isLink(st) && st.linkTarget) srcPath = st.linkTarget;
  }
  const res = await send(client, 'GET', `/containers/${encodeURIComponent(container)}/archive`, { path: srcPath });
  if (to === '-') {
    await pipeline(counted(res, count), process.stdout);
    return;
  }
  const st = decodeStat(res);
  // The daemon names the top entry like this (docker's archive base).
  const top = contentsOf(srcPath) ? '.' : st.name;
  const dest = resolve(to);
  const dstSt = await stat(dest).catch(() => undefined);
  try {
    if (isDir(st)) {
      if (dstSt && !dstSt.isDirectory()) throw E.InvalidArgument(`cannot copy a directory to a file: ${to}`);
      if (dstSt && !contentsOf(srcPath)) return await extractToHost(counted(res, count), dest, top, top);
      if (dstSt) return await extractToHost(counted(res, count), dest, '.', '.');
      await parentMustExist(dest, to);
      return await extractToHost(counted(res, count), dirname(dest), top, basename(dest));
    }
    if (dstSt?.isDirectory()) return await extractToHost(counted(res, count), dest, top, top);
    if (!dstSt && endsWithSep(to)) throw E.InvalidArgument(`destination directory ${to} does not exist`);
    await parentMustExist(dest, to);
    await extractToHost(counted(res, count), dirname(dest), top, basename(dest));
  } finally {
    res.resume();
  }
}

async function parentMustExist(dest: string, shown: string): Promise<void> {
  const p = await stat(dirname(dest)).catch(() => undefined);
  if (!p?.isDirectory()) throw E.InvalidArgument(`destination directory ${dirname(shown)} does not exist`);
}

async function copyTo(client: ApiClient, from: string, container: string, path: string, o: { archive: boolean; follow: boolean }, count: { n: number }): Promise<void> {
  const url = `/containers/${encodeURIComponent(container)}/archive`;
  const query = { noOverwriteDirNonDir: true, copyUIDGID: o.archive || undefined };
  if (!path) throw E.InvalidArgument('the container path in DEST_PATH must not be empty');
  if (from === '-') {
    // A tar on stdin goes as is into the destination directory.
    (await send(client, 'PUT', url, { ...query, path }, Readable.from(counted(process.stdin, count)))).resume();
    return;
  }
  const local = resolve(from);
  const lst = await (o.follow ? stat(local) : lstat(local)).catch(() => undefined);
  if (!lst) throw E.InvalidArgument(`could not find the file ${from} on the host: lstat ${local}: no such file or directory`);
  const top = contentsOf(from) ? '.' : basename(local);
  let dstSt = await statIn(client, container, path);
  let dstPath = path;
  if (dstSt && isLink(dstSt) && dstSt.linkTarget) {
    dstPath = dstSt.linkTarget;
    dstSt = await statIn(client, container, dstPath);
  }
  let dir: string;
  let name: string;
  if (dstSt && isDir(dstSt)) {
    dir = dstPath;
    name = top;
  } else {
    if (dstSt && lst.isDirectory()) throw E.InvalidArgument(`cannot copy a directory to a file: ${container}:${path}`);
    if (!dstSt && endsWithSep(path) && !lst.isDirectory()) throw E.InvalidArgument(`destination directory ${container}:${path} does not exist`);
    dir = dirname(dstPath.replace(/\/+$/, '')) || '/';
    name = basename(dstPath.replace(/\/+$/, ''));
  }
  const tar = tarHostPath(local, name, o.follow);
  (await send(client, 'PUT', url, { ...query, path: dir }, Readable.from(counted(tar, count)))).resume();
}
