import { test } from 'node:test';
import assert from 'node:assert/strict';
import { E } from '@conga/common';
import { checkHostname, hostsFile, parseExtraHosts, parseResolvConf, resolvConfFile } from './container-files';
import { bridgeConfList, defaultBridge } from './network-configs';

test('files: hosts lists localhost, extra hosts and the container IPs', () => {
  const extra = parseExtraHosts(['db:10.0.0.9', 'v6:[fd00::2]', 'gw:host-gateway'], '10.88.0.1');
  assert.deepEqual(extra, [
    { name: 'db', ip: '10.0.0.9' },
    { name: 'v6', ip: 'fd00::2' },
    { name: 'gw', ip: '10.88.0.1' },
  ]);
  const h = hostsFile('web', ['10.88.0.5'], extra);
  assert.match(h, /^127\.0\.0\.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n/);
  assert.match(h, /^10\.0\.0\.9\tdb$/m);
  assert.match(h, /^10\.88\.0\.5\tweb\n$/m);
  assert.throws(() => parseExtraHosts(['db:999.1.1.1'], undefined), (e) => E.InvalidArgument.is(e));
  assert.throws(() => parseExtraHosts(['gw:host-gateway'], undefined), (e) => E.InvalidArgument.is(e));
  assert.throws(() => checkHostname('-bad'), (e) => E.InvalidArgument.is(e));
  assert.throws(() => checkHostname('a'.repeat(65)), (e) => E.InvalidArgument.is(e));
  assert.equal(checkHostname('a'.repeat(64)), 'a'.repeat(64));
});

test('files: resolv.conf drops loopback resolvers and never invents a public one', () => {
  const host = parseResolvConf('# c\nnameserver 127.0.0.53\nnameserver ::1\nsearch corp.example\noptions edns0 trust-ad\n');
  assert.deepEqual(host, { nameservers: ['127.0.0.53', '::1'], search: ['corp.example'], options: ['edns0', 'trust-ad'] });
  const own = resolvConfFile(host, [], [], true);
  assert.doesNotMatch(own, /^nameserver/m);
  assert.match(own, /^# No nameserver/m);
  assert.match(own, /^search corp\.example$/m);
  assert.match(own, /^options edns0 trust-ad$/m);
  // the host network can use the host's loopback resolver
  assert.match(resolvConfFile(host, [], [], false), /^nameserver 127\.0\.0\.53$/m);
  const mixed = resolvConfFile(parseResolvConf('nameserver 127.0.0.1\nnameserver 10.0.0.2\n'), [], [], true);
  assert.deepEqual(mixed.match(/^nameserver .*$/gm), ['nameserver 10.0.0.2']);
  const given = resolvConfFile(host, ['1.2.3.4'], ['a.test', 'b.test'], true);
  assert.deepEqual(given.match(/^nameserver .*$/gm), ['nameserver 1.2.3.4']);
  assert.match(given, /^search a\.test b\.test$/m);
});

test('configs: the default bridge conflist (10.88.0.0/16 on conga0; no firewall without iptables)', () => {
  const on = bridgeConfList({ ...defaultBridge, ipamDir: '/x/ipam', firewall: true });
  assert.equal(on.name, 'conga0');
  assert.deepEqual(on.plugins.map((p) => p.type), ['bridge', 'portmap', 'firewall']);
  assert.equal(on.plugins[0].bridge, 'conga0');
  assert.equal(on.plugins[0].isGateway, true);
  assert.equal(on.plugins[0].ipMasq, true);
  assert.deepEqual((on.plugins[0].ipam as { ranges: unknown }).ranges, [[{ subnet: '10.88.0.0/16' }]]);
  const off = bridgeConfList({ ...defaultBridge, ipamDir: '/x/ipam', firewall: false });
  assert.deepEqual(off.plugins.map((p) => p.type), ['bridge', 'portmap']);
  assert.equal(off.plugins[0].ipMasq, false);
});
