import { createSocket } from 'node:dgram';
import { isIP, createServer } from 'node:net';
import { E } from '@conga/common';
import type { PortMapping } from '@conga/api';

type PortRequest = { hostIp?: string; hostPort?: number; containerPort?: number; protocol?: string };

/** Check published ports and fill defaults (protocol tcp, host IP "" = all addresses). */
export function normalizePorts(ports: readonly PortRequest[]): PortMapping[] {
  return ports.map((p) => {
    const protocol = (p.protocol || 'tcp').toLowerCase();
    const hostIp = p.hostIp ?? '';
    const hostPort = p.hostPort ?? 0;
    const containerPort = p.containerPort ?? 0;
    const shown = `${hostIp ? `${hostIp}:` : ''}${hostPort}:${containerPort}/${protocol}`;
    if (!['tcp', 'udp', 'sctp'].includes(protocol)) throw E.InvalidArgument(`invalid published port ${shown}: protocol must be tcp, udp or sctp`);
    if (!(containerPort >= 1 && containerPort <= 65535)) throw E.InvalidArgument(`invalid published port ${shown}: the container port must be 1-65535`);
    if (!(hostPort >= 0 && hostPort <= 65535)) throw E.InvalidArgument(`invalid published port ${shown}: the host port must be 0-65535`);
    if (hostIp && isIP(hostIp) !== 4) throw E.InvalidArgument(`invalid published port ${shown}: the host IP must be an IPv4 address`);
    return { hostIp: hostIp === '0.0.0.0' ? '' : hostIp, hostPort, containerPort, protocol };
  });
}

function clash(a: PortMapping, b: PortMapping): boolean {
  return a.protocol === b.protocol && a.hostPort === b.hostPort && (a.hostIp === '' || b.hostIp === '' || a.hostIp === b.hostIp);
}

/** "0.0.0.0:8080/tcp". */
export function hostAddr(p: PortMapping): string {
  return `${p.hostIp || '0.0.0.0'}:${p.hostPort}/${p.protocol}`;
}

/** Bind the address briefly: resolves with the port (picked by the kernel for 0), or rejects with EADDRINUSE etc. */
function probe(p: PortMapping): Promise<number> {
  const host = p.hostIp || '0.0.0.0';
  if (p.protocol === 'udp') {
    return new Promise((resolve, reject) => {
      const s = createSocket('udp4');
      s.once('error', (e) => {
        s.close();
        reject(e);
      });
      s.bind({ address: host, port: p.hostPort, exclusive: true }, () => {
        const port = s.address().port;
        s.close(() => resolve(port));
      });
    });
  }
  // tcp (sctp is checked by its tcp twin: node has no sctp sockets)
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ host, port: p.hostPort, exclusive: true }, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : p.hostPort;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Published host ports, per container. Portmap only installs DNAT rules (nothing listens on the
 * host), so Conga itself refuses a port another container publishes or a host process holds.
 * Reservation is synchronous (check and record without an await in between), so concurrent
 * starts cannot both get a port. Owned by the network service.
 */
export class PortReservations {
  private readonly byContainer = new Map<string, PortMapping[]>();

  /** Rebuild from attachment records (service start). */
  load(entries: Iterable<[string, PortMapping[]]>): void {
    this.byContainer.clear();
    for (const [id, ports] of entries) if (ports.length) this.byContainer.set(id, ports);
  }

  private holder(p: PortMapping, self: string): string | undefined {
    for (const [id, list] of this.byContainer) if (id !== self && list.some((q) => clash(p, q))) return id;
    return undefined;
  }

  /**
   * Reserve `ports` for container `id`: resolves host port 0 to a free port, refuses ports of
   * other containers (and duplicates within the request) and ports a host process holds.
   */
  async reserve(id: string, ports: PortMapping[]): Promise<PortMapping[]> {
    const out: PortMapping[] = [];
    this.byContainer.set(id, out);
    try {
      for (const req of ports) {
        const p = { ...req };
        if (p.hostPort === 0) {
          // Let the kernel pick; retry if another container holds the one it gave.
          for (let i = 0; ; i++) {
            p.hostPort = await probe({ ...p, hostPort: 0 });
            if (!this.holder(p, id) && !out.some((q) => clash(p, q))) break;
            if (i > 20) throw E.PortAllocated(hostAddr(p), 'no free port found');
          }
          out.push(p);
          continue;
        }
        const other = this.holder(p, id);
        if (other) throw E.PortAllocated(hostAddr(p), `published by container ${other.slice(0, 12)}`);
        if (out.some((q) => clash(p, q))) throw E.PortAllocated(hostAddr(p), 'given twice');
        out.push(p); // reserved before the await below
        try {
          await probe(p);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'EADDRINUSE') throw E.PortAllocated(hostAddr(p), 'a process on the host is listening on it');
          if (code === 'EADDRNOTAVAIL') throw E.InvalidArgument(`cannot publish on ${hostAddr(p)}: the host has no such address`);
          throw E.PortAllocated(hostAddr(p), (e as Error).message);
        }
      }
      return out;
    } catch (e) {
      this.byContainer.delete(id);
      throw e;
    }
  }

  release(id: string): void {
    this.byContainer.delete(id);
  }
}
