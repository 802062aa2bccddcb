import type { FastifyInstance } from 'fastify';
import { E } from '@conga/common';
import type { Engine } from '../engine';
import { boolParam } from './server';
import { parseFilters } from './filters';

/** Named local volumes: /volumes, /volumes/create, /volumes/{name}, /volumes/prune. */
export function registerVolumeRoutes(app: FastifyInstance, engine: Engine): void {
  const ctrs = engine.containers;
  const vols = ctrs.volumes;
  const event = (action: string, name: string) => ctrs.events.publish('volume', action, name, { driver: 'local' });

  app.get<{ Querystring: { filters?: string } }>('/volumes', async (req) => {
    const f = parseFilters(req.query.filters);
    for (const k of Object.keys(f)) if (!['name', 'dangling', 'label', 'driver'].includes(k)) throw E.InvalidArgument(`invalid filter '${k}'`);
    const list = vols.list().filter((v) => {
      if (f.name?.length && !f.name.some((n) => v.Name.includes(n))) return false;
      if (f.driver?.length && !f.driver.includes('local')) return false;
      if (f.dangling?.length) {
        const dangling = ctrs.volumeUsers(v.Name).length === 0;
        if (!f.dangling.some((d) => boolParam(d) === dangling)) return false;
      }
      if (f.label?.length && !f.label.every((l) => (l.includes('=') ? v.Labels[l.split('=')[0]] === l.slice(l.indexOf('=') + 1) : l in v.Labels))) return false;
      return true;
    });
    return { Volumes: list, Warnings: [] };
  });

  app.post<{ Body: { Name?: string; Driver?: string; DriverOpts?: Record<string, string>; Labels?: Record<string, string> } }>('/volumes/create', async (req, reply) => {
    const b = req.body ?? {};
    checkVolumeBody(b);
    if (b.Driver && b.Driver !== 'local') throw E.InvalidArgument(`volume driver "${b.Driver}" is not supported: use local`);
    const name = b.Name || randomVolumeName();
    const existed = !!vols.find(name);
    const v = vols.create(name, b.Labels ?? {}, b.DriverOpts ?? {});
    if (!existed) event('create', name);
    return reply.code(201).send(v);
  });

  app.get<{ Params: { name: string } }>('/volumes/:name', async (req) => vols.get(req.params.name));

  app.delete<{ Params: { name: string }; Querystring: { force?: string } }>('/volumes/:name', async (req, reply) => {
    const v = vols.get(req.params.name);
    const users = ctrs.volumeUsers(v.Name);
    if (users.length) throw E.VolumeInUse(v.Name, users.join(', '));
    vols.remove(v.Name);
    event('destroy', v.Name);
    return reply.code(204).send();
  });

  app.post<{ Querystring: { filters?: string } }>('/volumes/prune', async (req) => {
    const f = parseFilters(req.query.filters);
    for (const k of Object.keys(f)) if (!['all', 'label'].includes(k)) throw E.InvalidArgument(`invalid filter '${k}'`);
    // API 1.41 semantics: every unused volume (all volumes here are named).
    const deleted: string[] = [];
    {
      for (const v of vols.list()) {
        if (f.label?.length && !f.label.every((l) => (l.includes('=') ? v.Labels[l.split('=')[0]] === l.slice(l.indexOf('=') + 1) : l in v.Labels))) continue;
        if (ctrs.volumeUsers(v.Name).length) continue;
        vols.remove(v.Name);
        event('destroy', v.Name);
        deleted.push(v.Name);
      }
    }
    return { VolumesDeleted: deleted, SpaceReclaimed: 0 };
  });
}

function randomVolumeName(): string {
  return [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * The JSON types of a `POST /volumes/create` body, checked before use: `{"Name": true}` was a
 * 500 from deep in the fs calls, and non-string labels would be stored and break the label
 * filters later. dockerd also refuses such bodies with a 400.
 */
function checkVolumeBody(b: unknown): asserts b is { Name?: string; Driver?: string; DriverOpts?: Record<string, string>; Labels?: Record<string, string> } {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(b)) throw E.InvalidArgument('the volume config must be a JSON object, e.g. {"Name": "data"}');
  for (const k of ['Name', 'Driver']) {
    if (b[k] != null && typeof b[k] !== 'string') throw E.InvalidArgument(`invalid volume config: ${k} must be a string`);
  }
  for (const k of ['DriverOpts', 'Labels']) {
    const v = b[k];
    if (v != null && (!isObject(v) || Object.values(v).some((x) => typeof x !== 'string'))) throw E.InvalidArgument(`invalid volume config: ${k} must be an object of string values`);
  }
}
