import assert from 'node:assert/strict';
import {
  type AddressCategory,
  type Resolver,
  RepositoryAddressError,
  checkRepositoryUrl,
  classifyAddress,
  curlResolveEntry,
  inCidr,
  isAllowed,
  parseCidr,
  parseHostLiteral,
} from './address-guard.js';

// Every address below is a literal that is parsed and classified; no test connects to any of them.
// 93.184.216.34 and 2606:2800:220:1:248:1893:25c8:1946 stand in for public addresses and are
// only ever returned by fake resolvers.
const publicV4 = '93.184.216.34';
const publicV6 = '2606:2800:220:1:248:1893:25c8:1946';

/** Returns a resolver that resolves every host to `addresses` and records the hosts it was called with. */
function fakeResolver(addresses: string[]): Resolver & { hosts: string[] } {
  const hosts: string[] = [];
  const resolve = async (host: string) => {
    hosts.push(host);
    return addresses.map((address) => ({ address, family: address.includes(':') ? (6 as const) : (4 as const) }));
  };
  return Object.assign(resolve, { hosts });
}

const noAllow = { allow: [] };
const localStack = { allow: ['127.0.0.0/8', '::1/128'] };

describe('parseHostLiteral', () => {
  const cases: Array<[string, string, 4 | 6]> = [
    ['127.0.0.1', '127.0.0.1', 4],
    ['2130706433', '127.0.0.1', 4],
    ['0x7f000001', '127.0.0.1', 4],
    ['0X7F000001', '127.0.0.1', 4],
    ['017700000001', '127.0.0.1', 4],
    ['0177.0.0.1', '127.0.0.1', 4],
    ['127.000.000.001', '127.0.0.1', 4],
    ['127.1', '127.0.0.1', 4],
    ['0x7f.1', '127.0.0.1', 4],
    ['127.0.1', '127.0.0.1', 4],
    ['0xa9.0xfe.0xa9.0xfe', '169.254.169.254', 4],
    ['0', '0.0.0.0', 4],
    ['127.0.0.1.', '127.0.0.1', 4],
    ['[::1]', '::1', 6],
    ['::1', '::1', 6],
    ['[::]', '::', 6],
    ['[::ffff:127.0.0.1]', '::ffff:7f00:1', 6],
    ['[0:0:0:0:0:ffff:a9fe:a9fe]', '::ffff:a9fe:a9fe', 6],
    ['[FD00:EC2:0:0:0:0:0:254]', 'fd00:ec2::254', 6],
    ['[2001:db8:0:0:1:0:0:1]', '2001:db8::1:0:0:1', 6],
    ['[1:0:0:2:0:0:0:3]', '1:0:0:2::3', 6],
  ];
  for (const [host, address, family] of cases) {
    it(`parses ${host}`, () => {
      assert.deepEqual(parseHostLiteral(host), { address, family });
    });
  }

  it('formats IPv6 as the WHATWG URL parser does', () => {
    for (const host of ['[::ffff:127.0.0.1]', '[1:0:0:2:0:0:0:3]', '[2001:db8::]', '[0:0:0:0:0:0:0:1]']) {
      assert.equal(`[${parseHostLiteral(host)!.address}]`, new URL(`http://${host}/`).hostname, host);
    }
  });

  it('returns undefined for DNS names', () => {
    for (const host of ['example.com', 'localhost', '127.0.0.1.nip.io', '0x7f.example', '1.2.3.example']) {
      assert.equal(parseHostLiteral(host), undefined, host);
    }
  });

  it('throws on invalid numeric hosts', () => {
    const cases = ['256.0.0.1', '1.2.3.256', '1.2.3.4.5', '09', '0x1.0x100.1', '1..2', '4294967296', '[::1', '[1:2:3]', '[fe80::1%25eth0]', ''];
    for (const host of cases) {
      assert.throws(() => parseHostLiteral(host), TypeError, host);
    }
  });
});

describe('classifyAddress', () => {
  const cases: Array<[string, AddressCategory]> = [
    // IPv4 ranges
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.5', 'private'],
    ['100.64.0.1', 'carrier-grade-nat'],
    ['100.127.255.255', 'carrier-grade-nat'],
    ['100.128.0.1', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.1.1', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['169.254.170.2', 'metadata'],
    ['169.254.170.23', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['168.63.129.16', 'metadata'],
    ['172.15.255.255', 'public'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.10', 'documentation'],
    ['192.88.99.1', 'reserved'],
    ['192.168.1.1', 'private'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    [publicV4, 'public'],
    ['8.8.8.8', 'public'],
    // Legacy IPv4 spellings
    ['0x7f.1', 'loopback'],
    ['2130706433', 'loopback'],
    ['017700000001', 'loopback'],
    ['127.000.000.001', 'loopback'],
    ['0xa9fea9fe', 'metadata'],
    ['012.0.0.1', 'private'],
    // IPv6 ranges
    ['::', 'unspecified'],
    ['[::]', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'link-local'],
    ['febf:ffff::1', 'link-local'],
    ['fec0::1', 'private'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fd00:ec2::254', 'metadata'],
    ['[fd00:ec2::254]', 'metadata'],
    ['fd00:ec2::23', 'metadata'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['100::1', 'reserved'],
    ['2001:2::1', 'benchmarking'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'],
    ['64:ff9b:1::a00:1', 'reserved'],
    ['1::', 'reserved'],
    ['4000::1', 'reserved'],
    [publicV6, 'public'],
    ['2a00:1450:4001:80b::200e', 'public'],
    // IPv6 forms that embed an IPv4 address
    ['::ffff:127.0.0.1', 'loopback'],
    ['[::ffff:127.0.0.1]', 'loopback'],
    ['[::ffff:7f00:1]', 'loopback'],
    ['[0:0:0:0:0:ffff:a9fe:a9fe]', 'metadata'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:0.0.0.0', 'unspecified'],
    [`::ffff:${publicV4}`, 'public'],
    ['::7f00:1', 'loopback'],
    ['::127.0.0.1', 'loopback'],
    ['::a9fe:a9fe', 'metadata'],
    ['[64:ff9b::a9fe:a9fe]', 'metadata'],
    ['64:ff9b::10.0.0.1', 'private'],
    [`64:ff9b::${publicV4}`, 'public'],
    ['2002:7f00:1::', 'loopback'],
    ['2002:c0a8:101::1', 'private'],
    ['2002:a9fe:a9fe::1', 'metadata'],
    ['2002:5db8:d822::1', 'public'],
  ];
  for (const [address, category] of cases) {
    it(`classifies ${address} as ${category}`, () => {
      assert.equal(classifyAddress(address), category);
    });
  }

  it('throws on DNS names', () => {
    assert.throws(() => classifyAddress('example.com'), /is a DNS name, not an address/);
  });
});

describe('parseCidr and inCidr', () => {
  it('clears host bits of the network', () => {
    assert.deepEqual(parseCidr('10.1.2.3/8'), { family: 4, network: 10n << 24n, prefixLength: 8 });
  });

  it('treats a bare address as a single-address range', () => {
    assert.equal(parseCidr('::1').prefixLength, 128);
    assert.equal(parseCidr('127.0.0.1').prefixLength, 32);
  });

  it('rejects invalid prefix lengths', () => {
    for (const cidr of ['10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/08', '10.0.0.0/-1', 'example.com/8']) {
      assert.throws(() => parseCidr(cidr), /invalid CIDR/, cidr);
    }
  });

  it('matches addresses inside the range', () => {
    assert.equal(inCidr('172.31.255.255', '172.16.0.0/12'), true);
    assert.equal(inCidr('172.32.0.0', '172.16.0.0/12'), false);
    assert.equal(inCidr('fd00:ec2::254', 'fc00::/7'), true);
    assert.equal(inCidr('fe80::1', 'fc00::/7'), false);
    assert.equal(inCidr('1.2.3.4', '0.0.0.0/0'), true);
  });

  it('never matches across families', () => {
    assert.equal(inCidr('::ffff:127.0.0.1', '127.0.0.0/8'), false);
    assert.equal(inCidr('127.0.0.1', '::/0'), false);
  });
});

describe('isAllowed', () => {
  it('allows public addresses with an empty allow list', () => {
    assert.deepEqual(isAllowed(publicV4, noAllow), { allowed: true, category: 'public' });
    assert.equal(isAllowed(publicV6, noAllow).allowed, true);
  });

  it('rejects every other category by default', () => {
    for (const address of ['127.0.0.1', '::1', '10.0.0.5', '169.254.169.254', 'fd00:ec2::254', '192.0.2.1', '::ffff:7f00:1']) {
      const verdict = isAllowed(address, noAllow);
      assert.equal(verdict.allowed, false, address);
      assert.match(verdict.reason ?? '', /only public addresses are allowed/, address);
    }
  });

  it('names the allow list and the host in a rejection', () => {
    assert.equal(
      isAllowed('0.0.0.0', localStack).reason,
      "an unspecified address; only public addresses and 127.0.0.0/8, ::1/128 are allowed. An unspecified address names no host, so give the repository host's own address",
    );
    assert.equal(isAllowed('10.0.0.5', localStack).reason, 'a private address; only public addresses and 127.0.0.0/8, ::1/128 are allowed');
  });

  it('allows addresses in an allow CIDR', () => {
    const verdict = isAllowed('127.0.0.1', localStack);
    assert.equal(verdict.allowed, true);
    assert.equal(verdict.category, 'loopback');
    assert.match(verdict.reason ?? '', /allowed by 127\.0\.0\.0\/8/);
    assert.equal(isAllowed('::1', localStack).allowed, true);
  });

  it('matches allow CIDRs through an embedded IPv4', () => {
    assert.equal(isAllowed('::ffff:127.0.0.1', localStack).allowed, true);
  });

  it('keeps rejecting addresses outside the allow list', () => {
    assert.equal(isAllowed('10.0.0.5', localStack).allowed, false);
    assert.equal(isAllowed('169.254.169.254', localStack).category, 'metadata');
    assert.equal(isAllowed('169.254.169.254', localStack).allowed, false);
  });

  it('throws on an invalid allow entry', () => {
    assert.throws(() => isAllowed('127.0.0.1', { allow: ['127.0.0.0/40'] }), /invalid CIDR/);
  });
});

describe('checkRepositoryUrl', () => {
  it('pins the first address when all are public', async () => {
    const resolve = fakeResolver([publicV4, publicV6]);
    const pinned = await checkRepositoryUrl('https://git.example.com/team/repo.git', noAllow, resolve);
    assert.deepEqual(pinned, { host: 'git.example.com', port: 443, address: publicV4, family: 4, literal: false });
    assert.deepEqual(resolve.hosts, ['git.example.com']);
  });

  it('pins an IPv6 first answer', async () => {
    const pinned = await checkRepositoryUrl('https://git.example.com/r.git', noAllow, fakeResolver([publicV6, publicV4]));
    assert.equal(pinned.address, publicV6);
    assert.equal(pinned.family, 6);
  });

  it('uses the URL port or the scheme default', async () => {
    const resolve = fakeResolver([publicV4]);
    assert.equal((await checkRepositoryUrl('https://git.example.com:8443/r.git', noAllow, resolve)).port, 8443);
    assert.equal((await checkRepositoryUrl('http://git.example.com/r.git', noAllow, resolve)).port, 80);
  });

  it('rejects a mix of public and private', async () => {
    const resolve = fakeResolver([publicV4, '10.0.0.5']);
    await assert.rejects(checkRepositoryUrl('https://internal.example/r.git', noAllow, resolve), (error: unknown) => {
      assert.ok(error instanceof RepositoryAddressError);
      assert.equal(error.category, 'private');
      assert.equal(error.host, 'internal.example');
      assert.equal(
        error.message,
        'repository host internal.example resolves to 10.0.0.5, a private address; only public addresses are allowed',
      );
      return true;
    });
  });

  it('rejects a metadata address in IPv6 form', async () => {
    const resolve = fakeResolver(['::ffff:169.254.169.254']);
    await assert.rejects(checkRepositoryUrl('https://sneaky.example/r.git', noAllow, resolve), {
      name: 'RepositoryAddressError',
      category: 'metadata',
      message: /resolves to ::ffff:a9fe:a9fe, a cloud metadata address/,
    });
  });

  it('rejects a literal private IP without resolving', async () => {
    const resolve = fakeResolver([publicV4]);
    await assert.rejects(checkRepositoryUrl('https://10.0.0.5/r.git', noAllow, resolve), {
      category: 'private',
      message: 'repository host 10.0.0.5 is a private address; only public addresses are allowed',
    });
    assert.deepEqual(resolve.hosts, []);
  });

  it('rejects legacy and IPv6 spellings of loopback', async () => {
    const resolve = fakeResolver([publicV4]);
    const urls = ['http://0x7f.1/r.git', 'http://2130706433/r.git', 'http://017700000001/r.git', 'http://[::ffff:7f00:1]/r.git', 'http://[::]/r.git'];
    for (const url of urls) {
      await assert.rejects(checkRepositoryUrl(url, noAllow, resolve), RepositoryAddressError, url);
    }
    assert.deepEqual(resolve.hosts, []);
  });

  it('accepts a literal public IP', async () => {
    const pinned = await checkRepositoryUrl(`https://${publicV4}/r.git`, noAllow, fakeResolver([]));
    assert.deepEqual(pinned, { host: publicV4, port: 443, address: publicV4, family: 4, literal: true });
  });

  it('rejects URLs that parsers read differently', async () => {
    const resolve = fakeResolver([publicV4]);
    const urls = [
      'https:git.example.com/r.git',
      'https://a@b@git.example.com/r.git',
      'https://git%2eexample.com/r.git',
      'http://127.0.0.1\\@git.example.com/r.git',
      'https://git.example.com./r.git',
      'https://bücher.example/r.git',
      'https://git.example.com /r.git',
    ];
    for (const url of urls) {
      await assert.rejects(checkRepositoryUrl(url, noAllow, resolve), { name: 'RepositoryAddressError', category: undefined }, url);
    }
    assert.deepEqual(resolve.hosts, []);
  });

  it('rejects schemes other than http and https', async () => {
    for (const url of ['ssh://git.example.com/r.git', 'file:///etc/passwd', 'git://git.example.com/r.git']) {
      await assert.rejects(checkRepositoryUrl(url, noAllow, fakeResolver([publicV4])), /only https:\/\/ and http:\/\//, url);
    }
  });

  it('hides credentials in messages', async () => {
    await assert.rejects(checkRepositoryUrl('https://user:s3cret@a@b.example/r.git', noAllow, fakeResolver([publicV4])), (error: unknown) => {
      assert.ok(error instanceof RepositoryAddressError);
      assert.doesNotMatch(error.message, /s3cret/);
      return true;
    });
  });

  it('reports resolver failures and empty answers', async () => {
    const failing: Resolver = async () => {
      throw Object.assign(new Error('getaddrinfo ENOTFOUND nowhere.example'), { code: 'ENOTFOUND' });
    };
    await assert.rejects(checkRepositoryUrl('https://nowhere.example/r.git', noAllow, failing), {
      category: undefined,
      message: 'repository host nowhere.example could not be resolved (ENOTFOUND)',
    });
    await assert.rejects(checkRepositoryUrl('https://nowhere.example/r.git', noAllow, fakeResolver([])), /resolved to no addresses/);
  });

  it('rejects resolver answers that are not addresses', async () => {
    await assert.rejects(checkRepositoryUrl('https://odd.example/r.git', noAllow, fakeResolver(['other.example'])), /which is not an IP address/);
  });

  it('rejects real localhost by default', async () => {
    await assert.rejects(checkRepositoryUrl('https://localhost/r.git', noAllow), { category: 'loopback' });
  });

  it('allows real localhost with a local-stack allow list', async () => {
    const pinned = await checkRepositoryUrl('http://localhost:8080/r.git', localStack);
    assert.equal(pinned.host, 'localhost');
    assert.equal(pinned.port, 8080);
    assert.ok(['127.0.0.1', '::1'].includes(pinned.address), pinned.address);
  });
});

describe('curlResolveEntry', () => {
  it('formats an IPv4 pin', () => {
    assert.equal(curlResolveEntry({ host: 'example.com', port: 443, address: publicV4, family: 4 }), `example.com:443:${publicV4}`);
  });

  it('brackets an IPv6 address', () => {
    assert.equal(curlResolveEntry({ host: 'example.com', port: 8443, address: publicV6, family: 6 }), `example.com:8443:[${publicV6}]`);
  });

  it('throws for an IPv6 literal host', () => {
    assert.throws(() => curlResolveEntry({ host: '[2606:4700::1]', port: 443, address: '2606:4700::1', family: 6 }), /cannot pin IPv6 literal host/);
  });
});
