import { EventEmitter } from 'node:events';
import { E } from '@conga/common';

/** One Docker Engine API event (GET /events), e.g. a container's "die" with its exit code. */
export interface EngineEvent {
  Type: 'container' | 'image' | 'volume' | 'network' | string;
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  scope: 'local';
  time: number;
  timeNano: number;
  /** Deprecated docker fields, still read by older clients. */
  id?: string;
  status?: string;
  from?: string;
}

/** Parsed `filters` of GET /events. */
export type EventFilters = Record<string, string[]>;

const FILTER_KEYS = new Set(['container', 'event', 'type', 'image', 'label', 'volume', 'network', 'scope']);

/** Check the filter names once (unknown → InvalidArgument, as dockerd answers). */
export function checkEventFilters(f: EventFilters): void {
  for (const k of Object.keys(f)) if (!FILTER_KEYS.has(k)) throw E.InvalidArgument(`invalid filter '${k}'`);
}

/** docker's event filter semantics: OR within a key, AND across keys. */
export function eventMatches(ev: EngineEvent, f: EventFilters): boolean {
  const attrs = ev.Actor.Attributes;
  for (const [k, vals] of Object.entries(f)) {
    if (!vals.length) continue;
    const ok = vals.some((v) => {
      switch (k) {
        case 'container':
          return ev.Type === 'container' && (ev.Actor.ID === v || ev.Actor.ID.startsWith(v) || attrs.name === v);
        case 'event':
          // "exec_start" matches "exec_start: sh" like docker; "health_status" all its forms.
          return ev.Action === v || ev.Action.startsWith(`${v}:`);
        case 'type':
          return ev.Type === v;
        case 'image':
          return attrs.image === v || ev.Actor.ID === v || (ev.Type === 'image' && attrs.name === v);
        case 'label': {
          const i = v.indexOf('=');
          return i < 0 ? v in attrs : attrs[v.slice(0, i)] === v.slice(i + 1);
        }
        case 'volume':
          return ev.Type === 'volume' && ev.Actor.ID === v;
        case 'network':
          return ev.Type === 'network' && (ev.Actor.ID === v || attrs.name === v);
        case 'scope':
          return v === 'local';
        default:
          return false;
      }
    });
    if (!ok) return false;
  }
  return true;
}

/** docker's --since/--until: unix seconds (with fraction), RFC 3339, or a duration ago ("10m"). */
export function parseEventTime(v: string | undefined, now = Date.now()): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1e9);
  const d = v.match(/^(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)$/);
  if (d) {
    const mult: Record<string, number> = { ns: 1e-6, us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };
    return Math.round((now - Number(d[1]) * mult[d[2]]) * 1e6);
  }
  const t = Date.parse(v);
  if (!Number.isNaN(t)) return t * 1e6;
  throw E.InvalidArgument(`invalid time "${v}": use unix seconds, RFC 3339 or a duration such as 10m`);
}

/**
 * The engine's event log: the last `capacity` events in memory (what `--since` can replay, like
 * dockerd) and live subscribers. Owned by congad.
 */
export class EventLog extends EventEmitter {
  private readonly buf: EngineEvent[] = [];
  private lastNano = 0;

  constructor(private readonly capacity = 4096) {
    super();
    this.setMaxListeners(0);
  }

  /** Record and publish an event (timeNano is unique and increasing). */
  publish(type: EngineEvent['Type'], action: string, id: string, attributes: Record<string, string>): EngineEvent {
    const nowNano = Math.max(Date.now() * 1e6, this.lastNano + 1);
    this.lastNano = nowNano;
    const ev: EngineEvent = { Type: type, Action: action, Actor: { ID: id, Attributes: attributes }, scope: 'local', time: Math.floor(nowNano / 1e9), timeNano: nowNano };
    if (type === 'container') Object.assign(ev, { id, status: action, from: attributes.image ?? '' });
    this.buf.push(ev);
    if (this.buf.length > this.capacity) this.buf.splice(0, this.buf.length - this.capacity);
    this.emit('event', ev);
    return ev;
  }

  /** Past events in [since, until] (ns) that match. */
  past(f: EventFilters, sinceNano?: number, untilNano?: number): EngineEvent[] {
    return this.buf.filter((e) => (sinceNano === undefined || e.timeNano >= sinceNano) && (untilNano === undefined || e.timeNano <= untilNano) && eventMatches(e, f));
  }
}
