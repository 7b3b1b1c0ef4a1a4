import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

/**
 * Guards repository URLs against server-side request forgery (SSRF). Before a
 * clone, the worker resolves the host and rejects any address that is not
 * public. It then pins git's connection to the checked address, so a second
 * DNS answer cannot point the clone somewhere else.
 *
 * Pinning covers only the host and port of the checked URL. The caller must
 * also turn off git's HTTP redirects (`http.followRedirects=false`), because
 * curl resolves a redirect target on its own, without this check.
 */

/** Kind of address, after the IANA special-purpose registries for IPv4 and IPv6. */
export type AddressCategory =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unique-local'
  | 'metadata'
  | 'unspecified'
  | 'multicast'
  | 'reserved'
  | 'documentation'
  | 'carrier-grade-nat'
  | 'benchmarking';

export interface AddressPolicy {
  /** CIDRs (v4/v6) allowed even if not public, e.g. ['127.0.0.0/8', '::1/128'] for the local stack. */
  allow: string[];
}

/** Address of a repository host after the check, and the port git connects to. */
export interface PinnedAddress {
  /** URL host as WHATWG `URL.hostname` returns it: lower case, IPv6 literals in brackets. */
  host: string;
  port: number;
  /** Canonical form of the checked address that git must connect to. */
  address: string;
  family: 4 | 6;
  /** True when the URL names an IP address, so there was nothing to resolve. */
  literal: boolean;
}

export type Resolver = (host: string) => Promise<Array<{ address: string; family: 4 | 6 }>>;

/** Rejection of a repository URL. `category` is set only when an address was not allowed. */
export class RepositoryAddressError extends Error {
  override readonly name = 'RepositoryAddressError';

  constructor(
    readonly host: string,
    readonly category: AddressCategory | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface Ip {
  family: 4 | 6;
  /** The address as an unsigned 32-bit (v4) or 128-bit (v6) integer. */
  value: bigint;
}

export interface Cidr {
  family: 4 | 6;
  /** Network address, with the host bits cleared. */
  network: bigint;
  prefixLength: number;
}

const ipv4Bits = 32;
const ipv6Bits = 128;

// ---------------------------------------------------------------------------
// Parsing and formatting

/**
 * Parses a host as it may appear in a URL and returns the canonical address, or undefined when
 * the host is a DNS name. Besides the dotted quad and bracketed IPv6 it accepts the legacy
 * encodings that resolvers accept: decimal integer (2130706433), hex (0x7f000001), octal parts
 * (0177.0.0.1) and short forms (127.1). Throws when the host looks like an address but is invalid.
 */
export function parseHostLiteral(host: string): { address: string; family: 4 | 6 } | undefined {
  const ip = parseIp(host);
  return ip === undefined ? undefined : { address: formatIp(ip), family: ip.family };
}

function parseIp(host: string): Ip | undefined {
  if (host === '') throw new TypeError('invalid host: the host is empty');

  if (host.startsWith('[')) {
    if (!host.endsWith(']')) throw new TypeError(`invalid IPv6 address "${host}": the closing bracket is missing`);
    return { family: 6, value: parseIpv6(host.slice(1, -1)) };
  }
  // A DNS name never contains a colon, so anything with one must be an IPv6 address.
  if (host.includes(':')) return { family: 6, value: parseIpv6(host) };

  const value = parseIpv4(host);
  return value === undefined ? undefined : { family: 4, value };
}

/** Converts `text` to an Ip, throwing when it is a DNS name rather than an address. */
function requireIp(text: string): Ip {
  const ip = parseIp(text);
  if (ip === undefined) throw new TypeError(`invalid IP address "${text}": it is a DNS name, not an address`);
  return ip;
}

/**
 * Parses IPv4 in the forms of the WHATWG URL host parser, which match what inet_aton and
 * getaddrinfo accept: 1 to 4 dot-separated parts, each decimal, octal (leading 0) or hex
 * (0x). The last part fills the remaining bytes, so 127.1 is 127.0.0.1. Returns undefined
 * when the last label is not a number, because then the host is a DNS name.
 */
function parseIpv4(host: string): bigint | undefined {
  const parts = host.split('.');
  if (parts.length > 1 && parts[parts.length - 1] === '') parts.pop();
  if (parseIpv4Part(parts[parts.length - 1]) === undefined && !/^[0-9]+$/.test(parts[parts.length - 1])) {
    return undefined;
  }

  const invalid = (reason: string) => new TypeError(`invalid IPv4 address "${host}": ${reason}`);
  if (parts.length > 4) throw invalid('it has more than 4 parts');
  const numbers = parts.map((part) => {
    const number = parseIpv4Part(part);
    if (number === undefined) throw invalid(`"${part}" is not a decimal, octal or hex number`);
    return number;
  });

  let value = 0n;
  for (const [index, number] of numbers.entries()) {
    // The last part fills all the bytes that the earlier parts leave over.
    const bytes = index === numbers.length - 1 ? 4 - index : 1;
    const limit = 1n << BigInt(8 * bytes);
    if (number >= limit) throw invalid(`part "${parts[index]}" is greater than ${limit - 1n}`);
    value = (value << BigInt(8 * bytes)) | number;
  }
  return value;
}

function parseIpv4Part(part: string): bigint | undefined {
  if (/^0[xX][0-9a-fA-F]*$/.test(part)) return part.length === 2 ? 0n : BigInt(`0x${part.slice(2)}`);
  if (/^0[0-7]+$/.test(part)) return BigInt(`0o${part.slice(1)}`);
  if (/^(0|[1-9][0-9]*)$/.test(part)) return BigInt(part);
  return undefined;
}

/** Parses an IPv6 address without brackets, including a trailing dotted quad (::ffff:1.2.3.4). */
function parseIpv6(text: string): bigint {
  // Zone identifiers (fe80::1%eth0) name a local interface and never belong in a repository URL.
  if (text.includes('%') || isIP(text) !== 6) throw new TypeError(`invalid IPv6 address "${text}"`);

  let groupText = text;
  let trailingIpv4: bigint | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    // isIP has accepted the address, so the tail is a strict dotted quad.
    trailingIpv4 = parseIpv4(text.slice(lastColon + 1));
    groupText = `${text.slice(0, lastColon + 1)}0:0`;
  }

  const [head, tail] = groupText.split('::') as [string, string | undefined];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros: string[] = tail === undefined ? [] : Array(8 - headGroups.length - tailGroups.length).fill('0');

  let value = 0n;
  for (const group of [...headGroups, ...zeros, ...tailGroups]) value = (value << 16n) | BigInt(`0x${group}`);
  if (trailingIpv4 !== undefined) value = (value & ~0xffffffffn) | trailingIpv4;
  return value;
}

function formatIp(ip: Ip): string {
  return ip.family === 4 ? formatIpv4(ip.value) : formatIpv6(ip.value);
}

function formatIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

/** Formats as RFC 5952 recommends: lower-case hex, the longest run of two or more zero groups as "::". */
function formatIpv6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, index) => Number((value >> BigInt(112 - 16 * index)) & 0xffffn));

  let bestStart = -1;
  let bestLength = 1;
  for (let start = 0; start < 8; start++) {
    let length = 0;
    while (start + length < 8 && groups[start + length] === 0) length++;
    if (length > bestLength) {
      bestStart = start;
      bestLength = length;
    }
  }

  const hex = groups.map((group) => group.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

// ---------------------------------------------------------------------------
// CIDR ranges

/** Parses 'address/prefix' (v4 or v6). A bare address is a range of one address. */
export function parseCidr(cidr: string): Cidr {
  const slash = cidr.lastIndexOf('/');
  const addressText = slash === -1 ? cidr : cidr.slice(0, slash);
  const ip = parseIp(addressText);
  if (ip === undefined) throw new TypeError(`invalid CIDR "${cidr}": "${addressText}" is not an IP address`);

  const bits = ip.family === 4 ? ipv4Bits : ipv6Bits;
  const prefixText = slash === -1 ? String(bits) : cidr.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(prefixText) || Number(prefixText) > bits) {
    throw new TypeError(`invalid CIDR "${cidr}": the prefix length must be an integer from 0 to ${bits}`);
  }

  const prefixLength = Number(prefixText);
  return { family: ip.family, network: ip.value & prefixMask(bits, prefixLength), prefixLength };
}

function prefixMask(bits: number, prefixLength: number): bigint {
  const all = (1n << BigInt(bits)) - 1n;
  return all ^ ((1n << BigInt(bits - prefixLength)) - 1n);
}

/** Tests whether `address` lies in `cidr`. An IPv4 range never contains an IPv6 address, mapped or not. */
export function inCidr(address: string, cidr: string): boolean {
  return ipInCidr(requireIp(address), parseCidr(cidr));
}

function ipInCidr(ip: Ip, cidr: Cidr): boolean {
  if (ip.family !== cidr.family) return false;
  const bits = ip.family === 4 ? ipv4Bits : ipv6Bits;
  return (ip.value & prefixMask(bits, cidr.prefixLength)) === cidr.network;
}

// ---------------------------------------------------------------------------
// Classification

type RangeTable = Array<{ cidr: Cidr; category: AddressCategory }>;

function rangeTable(entries: Array<[string, AddressCategory]>): RangeTable {
  return entries.map(([cidr, category]) => ({ cidr: parseCidr(cidr), category }));
}

// The first matching entry wins, so single addresses come before the ranges that contain them.
const ipv4Ranges = rangeTable([
  // Cloud instance metadata and credential endpoints: AWS EC2 IMDS (also GCP, Azure and
  // others), AWS ECS task credentials, AWS EKS Pod Identity Agent, Alibaba Cloud metadata
  // and the Azure WireServer, which is a public address that Azure VMs reach internally.
  ['169.254.169.254/32', 'metadata'],
  ['169.254.170.2/32', 'metadata'],
  ['169.254.170.23/32', 'metadata'],
  ['100.100.100.200/32', 'metadata'],
  ['168.63.129.16/32', 'metadata'],
  // Linux connects to 0.0.0.0 as if it were the local host.
  ['0.0.0.0/8', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'carrier-grade-nat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'],
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'],
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  // Includes the limited broadcast address 255.255.255.255.
  ['240.0.0.0/4', 'reserved'],
]);

const ipv6Ranges = rangeTable([
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  // AWS EC2 IMDS and the AWS EKS Pod Identity Agent over IPv6.
  ['fd00:ec2::254/128', 'metadata'],
  ['fd00:ec2::23/128', 'metadata'],
  ['100::/64', 'reserved'],
  ['2001:db8::/32', 'documentation'],
  ['3fff::/20', 'documentation'],
  ['2001:2::/48', 'benchmarking'],
  // IETF protocol assignments, including Teredo (2001::/32), which embeds the client's IPv4 address inverted.
  ['2001::/23', 'reserved'],
  // NOTE: local-use NAT64 (RFC 8215) may embed an IPv4 address at several offsets, so it is
  // rejected as a whole instead of being classified by the embedded address.
  ['64:ff9b:1::/48', 'reserved'],
  ['fe80::/10', 'link-local'],
  // Site-local addresses are deprecated and, like private ones, never routed on the internet.
  ['fec0::/10', 'private'],
  ['fc00::/7', 'unique-local'],
  ['ff00::/8', 'multicast'],
  ['5f00::/16', 'reserved'],
]);

/** Global unicast space. IANA has assigned no other part of the IPv6 space for public hosts. */
const globalUnicast = parseCidr('2000::/3');

const embeddingRanges: Array<{ cidr: Cidr; shift: bigint }> = [
  // IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d)
  // carry the IPv4 address in the low 32 bits, 6to4 (2002:aabb:ccdd::) in bits 80 to 111.
  { cidr: parseCidr('::ffff:0:0/96'), shift: 0n },
  { cidr: parseCidr('::/96'), shift: 0n },
  { cidr: parseCidr('64:ff9b::/96'), shift: 0n },
  { cidr: parseCidr('2002::/16'), shift: 80n },
];

/** Returns the IPv4 address that an IPv6 address forwards to, if it embeds one. */
function embeddedIpv4(ip: Ip): Ip | undefined {
  if (ip.family !== 6 || ip.value <= 1n) return undefined;
  const embedding = embeddingRanges.find(({ cidr }) => ipInCidr(ip, cidr));
  return embedding === undefined ? undefined : { family: 4, value: (ip.value >> embedding.shift) & 0xffffffffn };
}

function classifyIp(ip: Ip): AddressCategory {
  const embedded = embeddedIpv4(ip);
  if (embedded !== undefined) return classifyIp(embedded);

  const table = ip.family === 4 ? ipv4Ranges : ipv6Ranges;
  const match = table.find(({ cidr }) => ipInCidr(ip, cidr));
  if (match !== undefined) return match.category;
  if (ip.family === 6 && !ipInCidr(ip, globalUnicast)) return 'reserved';
  return 'public';
}

/**
 * Classifies one IP literal (v4 or v6, including IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible,
 * NAT64 64:ff9b::/96 with embedded v4, 6to4 2002::/16 embedded v4) by the address traffic
 * reaches, so an IPv6 form of 127.0.0.1 is 'loopback'. Accepts every form that
 * parseHostLiteral accepts and throws on a non-literal.
 */
export function classifyAddress(address: string): AddressCategory {
  return classifyIp(requireIp(address));
}

/**
 * Decides whether a connection to `address` is allowed: public addresses always are, others
 * only inside a `policy.allow` CIDR. An address that embeds an IPv4 address also matches
 * through the embedded one, so '127.0.0.0/8' allows ::ffff:127.0.0.1. An allow entry wins
 * over every category, metadata included.
 */
export function isAllowed(address: string, policy: AddressPolicy): { allowed: boolean; category: AddressCategory; reason?: string } {
  const ip = requireIp(address);
  const category = classifyIp(ip);
  if (category === 'public') return { allowed: true, category };

  const candidates = [ip, embeddedIpv4(ip)].filter((candidate): candidate is Ip => candidate !== undefined);
  const allowedBy = policy.allow.find((cidr) => candidates.some((candidate) => ipInCidr(candidate, parseCidr(cidr))));
  if (allowedBy !== undefined) {
    return { allowed: true, category, reason: `${categoryDescriptions[category]} address, allowed by ${allowedBy}` };
  }
  const allowed = policy.allow.length === 0 ? 'only public addresses are allowed' : `only public addresses and ${policy.allow.join(', ')} are allowed`;
  // 0.0.0.0 reaches this machine in some programs, so a user may take it for a name of the host.
  const hint = category === 'unspecified' ? ". An unspecified address names no host, so give the repository host's own address" : '';
  return { allowed: false, category, reason: `${categoryDescriptions[category]} address; ${allowed}${hint}` };
}

/** Category names as they read in messages, with their article. */
const categoryDescriptions: Record<AddressCategory, string> = {
  public: 'a public',
  loopback: 'a loopback',
  private: 'a private',
  'link-local': 'a link-local',
  'unique-local': 'a unique-local',
  metadata: 'a cloud metadata',
  unspecified: 'an unspecified',
  multicast: 'a multicast',
  reserved: 'a reserved',
  documentation: 'a documentation',
  'carrier-grade-nat': 'a carrier-grade NAT',
  benchmarking: 'a benchmarking',
};

// ---------------------------------------------------------------------------
// Repository URLs

/** Resolves with getaddrinfo and keeps its order. Curl also uses getaddrinfo unless it is built with c-ares. */
const lookupAll: Resolver = async (host) => {
  const results = await lookup(host, { all: true, verbatim: true });
  return results.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
};

/**
 * Resolves the URL's host (or parses its literal), checks every address, and returns the first
 * address to pin plus the port. Throws RepositoryAddressError when the URL is invalid, the host
 * does not resolve, or any address is not allowed. The message names the host, the address and
 * the category.
 */
export async function checkRepositoryUrl(url: string, policy: AddressPolicy, resolve: Resolver = lookupAll): Promise<PinnedAddress> {
  const { host, port } = parseRepositoryUrl(url);
  const literal = parseHostLiteral(host);
  const candidates = literal === undefined ? await resolveHost(host, resolve) : [literal.address];

  const checked = candidates.map((candidate) => checkAddress(host, candidate, policy));
  const first = checked[0];
  return { host, port, address: first.address, family: first.family, literal: literal !== undefined };
}

/**
 * Splits a repository URL into host and port. Git hands the raw URL to curl, so this also
 * compares the WHATWG host with the raw authority text. A URL that the two parsers read
 * differently would otherwise let curl connect to a host that was never checked.
 */
function parseRepositoryUrl(url: string): { host: string; port: number } {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new RepositoryAddressError('', undefined, `repository URL "${redactUserinfo(url)}" is invalid`, { cause: error });
  }
  const host = parsed.hostname;
  const reject = (reason: string) =>
    new RepositoryAddressError(host, undefined, `repository URL "${redactUserinfo(url)}" is not accepted: ${reason}`);

  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw reject('only https:// and http:// URLs can be cloned');
  if (/[\x00-\x20\x7f\\]/.test(url)) throw reject('it contains whitespace, control characters or a backslash');

  const authority = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)/.exec(url)?.[1];
  if (authority === undefined) throw reject('it must have the form https://host/path');
  if (authority.split('@').length > 2) throw reject('the authority contains more than one "@"');
  const hostAndPort = authority.slice(authority.lastIndexOf('@') + 1);
  if (/[^\x21-\x7e]/.test(hostAndPort)) throw reject('the host contains non-ASCII characters; write it in punycode (xn--) form');
  const rawHost = hostAndPort.startsWith('[') ? hostAndPort.slice(0, hostAndPort.indexOf(']') + 1) : hostAndPort.split(':')[0];
  if (!sameHost(rawHost, host)) throw reject(`the host "${rawHost}" is written in a form that URL parsers disagree on`);

  // Curl may match "example.com." and "example.com" as different names, which would skip the pin.
  if (host.endsWith('.')) throw reject('the host ends with a dot; remove the trailing dot');

  if (parsed.port !== '') return { host, port: Number(parsed.port) };
  const defaultPort = parsed.protocol === 'https:' ? 443 : 80;
  return { host, port: defaultPort };
}

/** Hides user names and tokens (https://user:token@host) before a URL goes into a message. */
function redactUserinfo(url: string): string {
  return url.replace(/\/\/[^/?#]*@/, '//***@');
}

/** Compares a host as written in the URL with the WHATWG hostname, treating address spellings as equal. */
function sameHost(rawHost: string, hostname: string): boolean {
  if (rawHost.toLowerCase() === hostname) return true;
  try {
    const rawAddress = parseHostLiteral(rawHost);
    return rawAddress !== undefined && rawAddress.address === parseHostLiteral(hostname)?.address;
  } catch {
    return false;
  }
}

async function resolveHost(host: string, resolve: Resolver): Promise<string[]> {
  let results: Array<{ address: string }>;
  try {
    results = await resolve(host);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const detail = code === undefined ? String(error) : code;
    throw new RepositoryAddressError(host, undefined, `repository host ${host} could not be resolved (${detail})`, { cause: error });
  }
  if (results.length === 0) {
    throw new RepositoryAddressError(host, undefined, `repository host ${host} resolved to no addresses`);
  }
  return results.map((result) => result.address);
}

function checkAddress(host: string, address: string, policy: AddressPolicy): { address: string; family: 4 | 6 } {
  let parsed: { address: string; family: 4 | 6 } | undefined;
  try {
    parsed = parseHostLiteral(address);
  } catch (error) {
    throw new RepositoryAddressError(host, undefined, `repository host ${host} resolved to "${address}", which is not an IP address`, {
      cause: error,
    });
  }
  if (parsed === undefined) {
    throw new RepositoryAddressError(host, undefined, `repository host ${host} resolved to "${address}", which is not an IP address`);
  }

  const verdict = isAllowed(parsed.address, policy);
  if (!verdict.allowed) {
    const subject = parseHostLiteral(host) === undefined ? `${host} resolves to ${parsed.address},` : `${host} is`;
    throw new RepositoryAddressError(host, verdict.category, `repository host ${subject} ${verdict.reason}`);
  }
  return parsed;
}

/**
 * Returns the git `http.curloptResolve` value that pins host:port to the checked address, e.g.
 * 'example.com:443:93.184.216.34' (IPv6 address in brackets). Throws for an IPv6 literal host:
 * curl reads the entry's host up to the first colon and fails the transfer on such an entry,
 * and a literal host needs no pin.
 */
export function curlResolveEntry(pinned: { host: string; port: number; address: string; family: 4 | 6 }): string {
  if (pinned.host.includes(':')) {
    throw new TypeError(`cannot pin IPv6 literal host ${pinned.host}; curl connects to a literal address without resolving it`);
  }
  const address = pinned.family === 6 ? `[${pinned.address}]` : pinned.address;
  return `${pinned.host}:${pinned.port}:${address}`;
}
