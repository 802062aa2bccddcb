import { describe, test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { E, silentLogger } from '@conga/common';
import { protoDir } from '@conga/rpc';
import { criClient } from '../../../../test/harness/cri-client';
import { CRI_PROTO, serveCri, type CriServer } from './cri-server';
import { HeaderBlockRewriter, huffmanCode, huffmanDecode, writeInt } from './hpack';
import { rewriteAuthority } from './authority-relay';

function huffmanEncode(s: string): Buffer {
  let bits = '';
  for (const ch of Buffer.from(s, 'latin1')) {
    const { code, len } = huffmanCode(ch);
    bits += code.toString(2).padStart(len, '0');
  }
  bits = bits.padEnd(Math.ceil(bits.length / 8) * 8, '1');
  return Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
}

describe('CRI proto', () => {
  const def = protoLoader.loadSync(CRI_PROTO, { keepCase: true, includeDirs: [protoDir()] });
  const field = (msg: string, name: string) => {
    const t = (def[`runtime.v1.${msg}`] as { type: { field: Array<{ name: string; number: number; type: string; label: string }> } }).type;
    const f = t.field.find((x) => x.name === name);
    assert.ok(f, `${msg}.${name} exists`);
    return f;
  };

  test('critical field numbers and types match k8s.io/cri-api v1', () => {
    assert.equal(field('PodSandboxConfig', 'metadata').number, 1);
    assert.equal(field('PodSandboxConfig', 'linux').number, 8);
    assert.equal(field('PodSandboxConfig', 'port_mappings').number, 5);
    assert.equal(field('ContainerConfig', 'linux').number, 15);
    assert.equal(field('ContainerConfig', 'log_path').number, 11);
    assert.equal(field('ExecSyncRequest', 'timeout').number, 3);
    assert.equal(field('ExecSyncRequest', 'timeout').type, 'TYPE_INT64');
    assert.equal(field('RunPodSandboxRequest', 'runtime_handler').number, 2);
    assert.equal(field('PullImageRequest', 'auth').number, 2);
    assert.equal(field('AuthConfig', 'registry_token').number, 6);
    assert.equal(field('LinuxSandboxSecurityContext', 'supplemental_groups').label, 'LABEL_REPEATED');
    assert.equal(field('PodSandboxStatus', 'created_at').type, 'TYPE_INT64');
    assert.equal(field('ContainerStatus', 'exit_code').number, 7);
    assert.equal(field('ImageFsInfoResponse', 'container_filesystems').number, 2);
  });

  test('both services with every RPC kubelet 1.26-1.30 calls', () => {
    const svc = (name: string) => Object.keys(def[`runtime.v1.${name}`] as object);
    assert.equal(svc('RuntimeService').length, 29);
    assert.deepEqual(svc('ImageService').sort(), ['ImageFsInfo', 'ImageStatus', 'ListImages', 'PullImage', 'RemoveImage']);
    const events = (def['runtime.v1.RuntimeService'] as Record<string, { responseStream: boolean }>).GetContainerEvents;
    assert.equal(events.responseStream, true);
  });
});

describe('HPACK', () => {
  test('Huffman decoding (RFC 7541 C.4.1) and canonical codes', () => {
    assert.equal(huffmanDecode(Buffer.from('f1e3c2e5f23a6ba0ab90f4ff', 'hex')).toString(), 'www.example.com');
    assert.deepEqual(huffmanCode(0), { code: 0x1ff8, len: 13 });
    assert.deepEqual(huffmanCode(256), { code: 0x3fffffff, len: 30 });
    assert.throws(() => huffmanDecode(Buffer.from([0x00])), /padding/);
  });

  test('a rewritten indexed :authority keeps both dynamic tables in step', () => {
    const seen: string[] = [];
    const rw = new HeaderBlockRewriter((name, value) => {
      seen.push(`${name}=${value}`);
      return rewriteAuthority(name, value);
    });
    const path = '/run/conga/cri.sock';
    const huff = huffmanEncode(path);
    // Literal with incremental indexing, name = static :authority (1), Huffman value; then a
    // literal with a new name, then an indexed reference to the :authority entry (now index 63).
    const block1 = Buffer.concat([
      Buffer.from([0x41]), writeInt(huff.length, 7, 0x80), huff,
      Buffer.from([0x40, 0x03]), Buffer.from('x-a'), Buffer.from([0x01]), Buffer.from('b'),
    ]);
    const out1 = rw.process(block1);
    assert.deepEqual(seen, [`:authority=${path}`, 'x-a=b']);
    // The value is now a plain literal of the same length.
    assert.deepEqual(out1.subarray(0, 2 + path.length), Buffer.concat([Buffer.from([0x41, path.length]), Buffer.alloc(path.length, 'x')]));
    const block2 = Buffer.from([0x80 | 63]);
    assert.equal(rw.process(block2), block2);
    assert.throws(() => rw.process(Buffer.from([0x80 | 70])), /not in the table/);
  });

  test('valid authorities pass unchanged', () => {
    assert.equal(rewriteAuthority(':authority', Buffer.from('localhost')), undefined);
    assert.equal(rewriteAuthority(':path', Buffer.from('/a/b')), undefined);
  });
});

describe('CRI transport', () => {
  let dir: string;
  let server: CriServer;
  before(async () => {
    dir = mkdtempSync('/tmp/cri-t-');
    server = await serveCri(
      join(dir, 'cri.sock'),
      {
        version: async () => ({ version: '0.1.0', runtimeName: 'conga', runtimeVersion: 'test', runtimeApiVersion: 'v1' }),
        listPodSandbox: async () => Promise.reject(E.CriPodNotFound('abc')),
        getContainerEvents: async (_req: unknown, ctx: { send(m: unknown): void }) => {
          ctx.send({ containerId: 'c1', containerEventType: 'CONTAINER_STARTED_EVENT', createdAt: 1 });
        },
      },
      {},
      silentLogger(),
    );
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the public socket is 0660 and the grpc-js one private', () => {
    assert.equal(statSync(join(dir, 'cri.sock')).mode & 0o777, 0o660);
    assert.equal(statSync(join(dir, 'cri', 'grpc.sock')).mode & 0o777, 0o600);
  });

  test('a grpc-go style :authority (the socket path) works through the relay, repeatedly', async () => {
    const c = criClient(join(dir, 'cri.sock'), { authority: join(dir, 'cri.sock') });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await c.runtime.version({ version: 'v1' })).runtimeName, 'conga');
    } finally {
      c.close();
    }
  });

  test('without the relay the same :authority is refused (why the relay exists)', async () => {
    const c = criClient(join(dir, 'cri', 'grpc.sock'), { authority: join(dir, 'cri.sock') });
    try {
      await assert.rejects(c.runtime.version({ version: 'v1' }, { deadlineMs: 10_000 }), (e: grpc.ServiceError) => e.code !== grpc.status.OK);
    } finally {
      c.close();
    }
  });

  test('errors map to gRPC codes; missing RPCs are Unimplemented; events stream', async () => {
    const c = criClient(join(dir, 'cri.sock'));
    try {
      await assert.rejects(c.runtime.listPodSandbox({}), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND && /pod sandbox "abc" not found/.test(e.details));
      await assert.rejects(c.image.listImages({}), (e: grpc.ServiceError) => e.code === grpc.status.UNIMPLEMENTED);
      const got: any[] = [];
      await new Promise<void>((resolve, reject) => {
        const s = c.events();
        s.on('data', (m) => got.push(m));
        s.on('end', resolve);
        s.on('error', reject);
      });
      assert.equal(got[0].containerId, 'c1');
      assert.equal(got[0].containerEventType, 'CONTAINER_STARTED_EVENT');
    } finally {
      c.close();
    }
  });
});
