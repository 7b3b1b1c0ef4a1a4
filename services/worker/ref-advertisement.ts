import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { PinnedAddress } from './address-guard.js';

/**
 * Reads a repository's refs over git's smart HTTP protocol from inside the
 * worker process, so a job whose ref is a branch or tag costs one HTTP
 * request instead of a `git ls-remote` (two processes). Protocol v2 requests
 * only the refs that can match (`ls-refs` with `ref-prefix`). A server that
 * replies in protocol v0 sends its whole advertisement, which is read as is.
 *
 * The lookup is a fast path, which returns refs only for a clean
 * smart-protocol reply. For anything else (an error status, a redirect, a
 * dumb server, a URL with credentials or a query) it returns undefined. The
 * caller then runs git, whose result and error messages are the reference.
 */

export interface RefLookup {
  url: string;
  /** The address the guard checked; every connection goes there. */
  pinned: PinnedAddress;
  /** Names to ask a protocol v2 server for (`ref-prefix`); a v0 server sends every ref. */
  prefixes: string[];
  /** Cancellation and timeout of the lookup. */
  signal: AbortSignal;
}

/** Largest reply read, in bytes; a larger advertisement is left to git. */
export const maxAdvertisementBytes = 8 * 1024 * 1024;

/** Repositories (URL without trailing slashes) that replied in protocol v2, so the capability request can be skipped. */
const speaksV2 = new Set<string>();
const maxRemembered = 1024;

// Connections are kept open between jobs. A pooled connection was made to an address the guard checked.
const agents = { 'http:': new HttpAgent({ keepAlive: true, maxFreeSockets: 4, timeout: 5_000 }), 'https:': new HttpsAgent({ keepAlive: true, maxFreeSockets: 4, timeout: 5_000 }) };

/** Sent as User-Agent; some hosts serve the smart protocol only to agents named git/. */
const userAgent = 'git/2 (faas-worker)';

/**
 * Returns the repository's refs as a map from name to object id, or
 * undefined when the fast path has no result. A v2 reply contains only the refs
 * under `prefixes`. Rejects only when `signal` aborts.
 */
export async function fetchAdvertisedRefs(lookup: RefLookup): Promise<Map<string, string> | undefined> {
  const parsed = new URL(lookup.url);
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.username || parsed.password || parsed.search || parsed.hash) {
    return undefined;
  }
  const base = lookup.url.replace(/\/+$/, '');
  try {
    if (!speaksV2.has(base)) {
      const discovery = await send(`${base}/info/refs?service=git-upload-pack`, 'GET', undefined, lookup);
      if (discovery?.contentType !== 'application/x-git-upload-pack-advertisement') return undefined;
      const reply = parseDiscovery(discovery.body);
      if (reply === undefined) return undefined;
      if (reply.version === 0) return reply.refs;
      if (!reply.commands.has('ls-refs')) return undefined;
      if (speaksV2.size >= maxRemembered) speaksV2.clear();
      speaksV2.add(base);
    }
    const lsRefsReply = await send(`${base}/git-upload-pack`, 'POST', lsRefsRequest(lookup.prefixes), lookup);
    if (lsRefsReply?.contentType !== 'application/x-git-upload-pack-result') {
      // The server may have changed, so the next lookup requests its capabilities again.
      speaksV2.delete(base);
      return undefined;
    }
    return parseLsRefs(lsRefsReply.body);
  } catch (error) {
    if (lookup.signal.aborted) throw error;
    return undefined;
  }
}

/** Forgets which repositories speak protocol v2; for tests. */
export function forgetProtocolVersions(): void {
  speaksV2.clear();
}

interface Reply {
  contentType: string;
  body: Buffer;
}

/** Sends one request to the pinned address. Returns undefined for a status other than 200 or a reply over the size limit. */
function send(url: string, method: 'GET' | 'POST', body: Buffer | undefined, lookup: RefLookup): Promise<Reply | undefined> {
  const target = new URL(url);
  const protocol = target.protocol as 'http:' | 'https:';
  const headers: Record<string, string> = { 'User-Agent': userAgent, 'Git-Protocol': 'version=2', Accept: '*/*' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/x-git-upload-pack-request';
    headers['Content-Length'] = String(body.length);
    headers.Accept = 'application/x-git-upload-pack-result';
  }
  const options: RequestOptions = { method, headers, agent: agents[protocol], lookup: pinnedLookup(lookup.pinned), signal: lookup.signal };
  const call = protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const request = call(target, options, (response) => {
      if (response.statusCode !== 200) {
        response.resume();
        resolve(undefined);
        return;
      }
      readBody(response).then((content) => {
        resolve(content === undefined ? undefined : { contentType: mediaType(response.headers['content-type']), body: content });
      }, reject);
    });
    request.once('error', reject);
    request.end(body);
  });
}

/** Connects to the checked address, whatever the resolver would return now. */
function pinnedLookup(pinned: PinnedAddress): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) callback(null, [{ address: pinned.address, family: pinned.family }]);
    else callback(null, pinned.address, pinned.family);
  };
}

async function readBody(response: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of response) {
    bytes += (chunk as Buffer).length;
    if (bytes > maxAdvertisementBytes) {
      response.destroy();
      return undefined;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

/** Packets of a pkt-line stream: data as a string, or the special packets flush (0000), delim (0001) and end (0002). */
type Packet = string | 'flush' | 'delim' | 'end';

/** Packets whose length field is below 4: 0000, 0001, 0002 and the unused 0003. */
const specialPackets: Packet[] = ['flush', 'delim', 'end', 'end'];

/** Splits a pkt-line stream. Returns undefined when it is malformed. */
export function parsePacketLines(data: Buffer): Packet[] | undefined {
  const packets: Packet[] = [];
  let offset = 0;
  while (offset < data.length) {
    if (offset + 4 > data.length) return undefined;
    const lengthText = data.toString('latin1', offset, offset + 4);
    if (!/^[0-9a-f]{4}$/i.test(lengthText)) return undefined;
    const length = Number.parseInt(lengthText, 16);
    if (length < 4) {
      packets.push(specialPackets[length]);
      offset += 4;
      continue;
    }
    if (offset + length > data.length) return undefined;
    packets.push(data.toString('utf8', offset + 4, offset + length));
    offset += length;
  }
  return packets;
}

/** Encodes one data packet. */
function packet(text: string): Buffer {
  const length = Buffer.byteLength(text) + 4;
  return Buffer.from(`${length.toString(16).padStart(4, '0')}${text}`);
}

/** Builds a protocol v2 `ls-refs` request for the refs under `prefixes`, with annotated tags not peeled. */
export function lsRefsRequest(prefixes: string[]): Buffer {
  return Buffer.concat([
    packet('command=ls-refs\n'),
    Buffer.from('0001'),
    ...prefixes.map((prefix) => packet(`ref-prefix ${prefix}\n`)),
    Buffer.from('0000'),
  ]);
}

type Discovery = { version: 0; refs: Map<string, string> } | { version: 2; commands: Set<string> };

/** Reads the reply to GET info/refs: a v2 capability list or a v0 ref advertisement. */
export function parseDiscovery(data: Buffer): Discovery | undefined {
  const packets = parsePacketLines(data);
  if (packets === undefined) return undefined;
  // Smart HTTP starts with "# service=git-upload-pack" and a flush.
  let index = 0;
  if (typeof packets[0] === 'string' && packets[0].startsWith('# service=')) index = packets[1] === 'flush' ? 2 : 1;
  const first = packets[index];
  if (typeof first === 'string' && first.trimEnd() === 'version 2') {
    const commands = new Set<string>();
    for (const line of packets.slice(index + 1)) {
      if (line === 'flush') break;
      if (typeof line === 'string') commands.add(line.trimEnd().split('=')[0]);
    }
    return { version: 2, commands };
  }
  if (typeof first === 'string' && first.trimEnd() === 'version 1') index++;
  const refs = new Map<string, string>();
  for (const line of packets.slice(index)) {
    if (line === 'flush') break;
    if (typeof line !== 'string') return undefined;
    // The first line carries the capabilities after a NUL.
    const entry = parseRefLine(line.split('\0')[0]);
    if (entry === undefined) return undefined;
    // An empty repository sends the placeholder "capabilities^{}", and other "^{}" lines are peeled tags.
    if (!entry.name.endsWith('^{}')) refs.set(entry.name, entry.id);
  }
  return { version: 0, refs };
}

/** Reads the reply to `ls-refs`: one "<id> <name>[ <attribute>...]" line per ref, then a flush. */
export function parseLsRefs(data: Buffer): Map<string, string> | undefined {
  const packets = parsePacketLines(data);
  if (packets === undefined || packets.at(-1) !== 'flush') return undefined;
  const refs = new Map<string, string>();
  for (const line of packets.slice(0, -1)) {
    if (typeof line !== 'string') return undefined;
    const entry = parseRefLine(line);
    if (entry === undefined) return undefined;
    refs.set(entry.name, entry.id);
  }
  return refs;
}

const objectId = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;

function parseRefLine(line: string): { id: string; name: string } | undefined {
  const [id, name] = line.trimEnd().split(' ');
  if (id === undefined || name === undefined || !objectId.test(id) || name === '') return undefined;
  return { id, name };
}
