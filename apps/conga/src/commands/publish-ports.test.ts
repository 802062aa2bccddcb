import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseArgs } from '../args';
import { spec as runSpec } from './run';
import { containerBody, parsePublish } from './container-flags';

const body = (argv: string[]) => containerBody(parseArgs(argv, runSpec.flags, { stopAtPositional: true, command: 'conga run' }), {}, 'conga run');

test('-p ranges expand like docker: host range to container range, pairwise', () => {
  assert.deepEqual(parsePublish('127.0.0.1:8000-8002:80-82', 'conga run'), [
    ['80/tcp', { HostIp: '127.0.0.1', HostPort: '8000' }],
    ['81/tcp', { HostIp: '127.0.0.1', HostPort: '8001' }],
    ['82/tcp', { HostIp: '127.0.0.1', HostPort: '8002' }],
  ]);
  assert.deepEqual(parsePublish('8000-8001:80-81/udp', 'conga run'), [
    ['80/udp', { HostIp: '', HostPort: '8000' }],
    ['81/udp', { HostIp: '', HostPort: '8001' }],
  ]);
  assert.deepEqual(parsePublish('80-81', 'conga run'), [
    ['80/tcp', { HostIp: '', HostPort: '' }],
    ['81/tcp', { HostIp: '', HostPort: '' }],
  ]);
  assert.deepEqual(parsePublish('8080:80', 'conga run'), [['80/tcp', { HostIp: '', HostPort: '8080' }]]);
});

test('-p: mismatched, reversed or out-of-range ports are refused with a clear message', () => {
  assert.throws(() => parsePublish('8000-8001:80-82', 'conga run'), /invalid argument "8000-8001:80-82" for "-p, --publish" flag: invalid ranges: host ports 8000-8001 and container ports 80-82 must have the same number of ports/);
  assert.throws(() => parsePublish('8002-8000:80-82', 'conga run'), /invalid port range 8002-8000: the end is lower than the start; write it as 8000-8002/);
  assert.throws(() => parsePublish('8000:82-80', 'conga run'), /invalid port range 82-80/);
  assert.throws(() => parsePublish('70000:80', 'conga run'), /ports must be 1-65535/);
  assert.throws(() => parsePublish('a:80', 'conga run'), /invalid port specification/);
});

test('run -p range and --expose range fill PortBindings and ExposedPorts', () => {
  const b = body(['-p', '127.0.0.1:9000-9001:80-81', '--expose', '90-91/udp', 'img']);
  assert.deepEqual((b.HostConfig as Record<string, unknown>).PortBindings, {
    '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '9000' }],
    '81/tcp': [{ HostIp: '127.0.0.1', HostPort: '9001' }],
  });
  assert.deepEqual(Object.keys(b.ExposedPorts as object).sort(), ['80/tcp', '81/tcp', '90/udp', '91/udp']);
  assert.throws(() => body(['--expose', '91-90', 'img']), /invalid port range 91-90/);
});
