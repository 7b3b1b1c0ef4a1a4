import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type RequestListener, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startGitHttpServer, type GitHttpServer } from '../../dev/git-http-server.js';
import { createRepository, type CreatedRepository } from '../../dev/git-repositories.js';
import { CountingProxy } from '../../test/counting-proxy.js';
import type { PinnedAddress } from './address-guard.js';
import {
  fetchAdvertisedRefs,
  forgetProtocolVersions,
  lsRefsRequest,
  maxAdvertisementBytes,
  parseDiscovery,
  parseLsRefs,
  parsePacketLines,
} from './ref-advertisement.js';

const run = promisify(execFile);
const loopback = (port: number): PinnedAddress => ({ host: '127.0.0.1', port, address: '127.0.0.1', family: 4, literal: true });
const portOf = (url: string) => Number(new URL(url).port);

/** Refs as `git ls-remote` reports them, for comparison. */
async function lsRemote(url: string): Promise<Map<string, string>> {
  const { stdout } = await run('git', ['ls-remote', url], { env: { PATH: process.env.PATH, HOME: tmpdir(), GIT_CONFIG_NOSYSTEM: '1' } });
  const refs = new Map<string, string>();
  for (const line of stdout.trim().split('\n')) {
    const [id, name] = line.split('\t');
    if (!name.endsWith('^{}')) refs.set(name, id);
  }
  return refs;
}

async function listen(handler: RequestListener): Promise<{ server: Server; url: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

describe('fetchAdvertisedRefs', function () {
  this.timeout(30_000);
  let root: string;
  let git: GitHttpServer;
  const proxy = new CountingProxy();
  let repo: CreatedRepository;
  let repoUrl: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'faas-refs-'));
    git = await startGitHttpServer(join(root, 'repos'));
    await proxy.start(git.url);
    repo = await createRepository(join(root, 'repos'), 'refs', { 'main.sh': 'echo main\n' }, { tags: ['v1'], extraBranches: { next: { 'main.sh': 'echo next\n' } } });
    const env = { PATH: process.env.PATH, HOME: root, GIT_CONFIG_NOSYSTEM: '1', GIT_COMMITTER_NAME: 'faas', GIT_COMMITTER_EMAIL: 'faas@localhost' };
    await run('git', ['--git-dir', repo.path, 'tag', '-a', '-m', 'release', 'v2', 'next'], { env });
    repoUrl = `${proxy.url}/refs.git`;
  });
  after(async () => {
    await proxy.stop();
    await git?.stop();
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(() => {
    forgetProtocolVersions();
    proxy.reset();
  });

  const lookup = (url: string, prefixes: string[], signal = new AbortController().signal) => ({ url, pinned: loopback(portOf(url)), prefixes, signal });

  it('matches git ls-remote over protocol v2', async () => {
    const expected = await lsRemote(`${git.url}/refs.git`);
    proxy.reset();
    const refs = await fetchAdvertisedRefs(lookup(repoUrl, ['HEAD', 'refs/heads/next', 'refs/tags/v2']));
    assert.ok(refs);
    assert.deepEqual([...refs.keys()].sort(), ['HEAD', 'refs/heads/next', 'refs/tags/v2']);
    for (const [name, id] of refs) assert.equal(id, expected.get(name), name);
    // The annotated tag names the tag object, as git ls-remote does, not its commit.
    assert.notEqual(refs.get('refs/tags/v2'), refs.get('refs/heads/next'));
    assert.deepEqual(proxy.requests, ['GET /refs.git/info/refs?service=git-upload-pack', 'POST /refs.git/git-upload-pack']);

    proxy.reset();
    const again = await fetchAdvertisedRefs(lookup(repoUrl, ['refs/heads/main']));
    assert.deepEqual(again, new Map([['refs/heads/main', repo.commitSha]]));
    assert.deepEqual(proxy.requests, ['POST /refs.git/git-upload-pack'], 'the capabilities were asked for again');
  });

  it('reads a protocol v0 advertisement', async () => {
    // This server ignores Git-Protocol, as servers older than git 2.18 do.
    const { server, url } = await listen((request, response) => {
      if (request.method !== 'GET' || !request.url?.endsWith('/info/refs?service=git-upload-pack')) {
        response.writeHead(404).end();
        return;
      }
      response.writeHead(200, { 'Content-Type': 'application/x-git-upload-pack-advertisement' });
      response.write('001e# service=git-upload-pack\n0000');
      const child = spawn('git', ['upload-pack', '--stateless-rpc', '--advertise-refs', repo.path], { env: { PATH: process.env.PATH } });
      child.stdout.pipe(response);
    });
    try {
      const refs = await fetchAdvertisedRefs({ ...lookup(`${url}/refs.git`, ['HEAD']), signal: new AbortController().signal });
      assert.deepEqual(refs, await lsRemote(`${git.url}/refs.git`));
    } finally {
      await close(server);
    }
  });

  it('connects to the pinned address', async () => {
    // "refs.faas.invalid" resolves nowhere; only the pin can reach the server.
    const url = `http://refs.faas.invalid:${portOf(proxy.url)}/refs.git`;
    const pinned: PinnedAddress = { host: 'refs.faas.invalid', port: portOf(proxy.url), address: '127.0.0.1', family: 4, literal: false };
    const refs = await fetchAdvertisedRefs({ url, pinned, prefixes: ['HEAD'], signal: new AbortController().signal });
    assert.equal(refs?.get('HEAD'), repo.commitSha);
  });

  it('returns nothing for unusable replies', async () => {
    const replies: Record<string, (response: import('node:http').ServerResponse) => void> = {
      '/redirect': (response) => response.writeHead(302, { Location: `${git.url}/refs.git/info/refs?service=git-upload-pack` }).end(),
      '/missing': (response) => response.writeHead(404).end('not found'),
      '/dumb': (response) => response.writeHead(200, { 'Content-Type': 'text/plain' }).end(`${repo.commitSha}\trefs/heads/main\n`),
      '/garbled': (response) => response.writeHead(200, { 'Content-Type': 'application/x-git-upload-pack-advertisement' }).end('zzzz'),
      '/huge': (response) => {
        response.writeHead(200, { 'Content-Type': 'application/x-git-upload-pack-advertisement' });
        response.end(Buffer.alloc(maxAdvertisementBytes + 1, 0x30));
      },
    };
    const { server, url } = await listen((request, response) => {
      const reply = replies[request.url!.split('/info/refs')[0]];
      if (reply) reply(response);
      else response.writeHead(500).end();
    });
    try {
      for (const path of Object.keys(replies)) {
        const refs = await fetchAdvertisedRefs({ ...lookup(`${url}${path}`, ['HEAD']), signal: new AbortController().signal });
        assert.equal(refs, undefined, path);
      }
    } finally {
      await close(server);
    }
  });

  it('leaves credentials and queries to git', async () => {
    for (const url of [`http://user:secret@127.0.0.1:${portOf(proxy.url)}/refs.git`, `${repoUrl}?x=1`]) {
      assert.equal(await fetchAdvertisedRefs(lookup(url, ['HEAD'])), undefined, url);
    }
    assert.deepEqual(proxy.requests, []);
  });

  it('rejects on abort', async () => {
    // A server that never replies.
    const { server, url } = await listen(() => undefined);
    try {
      const controller = new AbortController();
      const pending = fetchAdvertisedRefs(lookup(`${url}/refs.git`, ['HEAD'], controller.signal));
      setTimeout(() => controller.abort(), 50);
      await assert.rejects(pending, { name: 'AbortError' });
    } finally {
      await close(server);
    }
  });
});

describe('git protocol packets', () => {
  const pkt = (text: string) => `${(Buffer.byteLength(text) + 4).toString(16).padStart(4, '0')}${text}`;

  it('splits packets and rejects truncation', () => {
    assert.deepEqual(parsePacketLines(Buffer.from('0009hello00000001000aworld\n')), ['hello', 'flush', 'delim', 'world\n']);
    assert.equal(parsePacketLines(Buffer.from('0009hel')), undefined);
    assert.equal(parsePacketLines(Buffer.from('00')), undefined);
    assert.equal(parsePacketLines(Buffer.from('xyz1abcd')), undefined);
  });

  it('encodes one ref-prefix per name', () => {
    const packets = parsePacketLines(lsRefsRequest(['HEAD', 'refs/heads/main']));
    assert.deepEqual(packets, ['command=ls-refs\n', 'delim', 'ref-prefix HEAD\n', 'ref-prefix refs/heads/main\n', 'flush']);
  });

  it('tells v2 capabilities from v0 refs', () => {
    const id = 'a'.repeat(40);
    const v2 = Buffer.from('001e# service=git-upload-pack\n0000000eversion 2\n000cls-refs\n0012fetch=shallow\n0000');
    assert.deepEqual(parseDiscovery(v2), { version: 2, commands: new Set(['ls-refs', 'fetch']) });
    const v0 = Buffer.from(`${pkt('# service=git-upload-pack\n')}0000${pkt(`${id} HEAD\0multi_ack side-band-64k\n`)}${pkt(`${id} refs/tags/v1^{}\n`)}0000`);
    assert.deepEqual(parseDiscovery(v0), { version: 0, refs: new Map([['HEAD', id]]) });
  });

  it('reads ls-refs lines and requires the flush', () => {
    const id = 'b'.repeat(40);
    const body = pkt(`${id} refs/heads/main symref-target:x\n`);
    assert.deepEqual(parseLsRefs(Buffer.from(`${body}0000`)), new Map([['refs/heads/main', id]]));
    assert.equal(parseLsRefs(Buffer.from(body)), undefined);
    assert.equal(parseLsRefs(Buffer.from('0008oops0000')), undefined);
  });
});
