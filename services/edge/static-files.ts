import { createReadStream, type Stats } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Logger } from '../../common/logger.js';

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.otf': 'font/otf',
  '.wasm': 'application/wasm',
};

/** Vite puts content-hashed bundles under /assets/, so their URLs change whenever their bytes do. */
const immutablePrefix = '/assets/';
const immutableCacheControl = 'public, max-age=31536000, immutable';
/** Everything else, index.html first, is revalidated on each load, so a new build shows at once. */
const revalidateCacheControl = 'no-cache';

/** How to build the page, sent when the web root does not exist. */
const notBuiltNote = 'The faas web page is not built yet. Run "npm run build:web" in the repository, then reload this page.\n';

/**
 * Serves the built page from `root`: files with their content types, and
 * index.html for any other path without a file extension, so the page's own
 * router handles it. Paths that leave the root, through `..`, an encoded
 * separator or a symbolic link, and hidden files are never served.
 */
export class StaticFiles {
  constructor(
    private readonly root: string,
    private readonly log: Logger,
  ) {}

  async serve(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    const segments = decodePath(pathname);
    if (segments === undefined) {
      sendText(res, 400, 'Invalid path: it must be percent-encoded UTF-8 and may not contain "..", backslashes or NUL.\n');
      return;
    }

    const root = await realpath(this.root).catch(() => undefined);
    if (root === undefined) {
      sendText(res, 503, notBuiltNote);
      return;
    }

    const file = await this.findFile(root, segments);
    if (file) {
      await this.sendFile(req, res, file.path, file.stats, pathname.startsWith(immutablePrefix));
      return;
    }
    if (extname(segments.at(-1) ?? '') !== '') {
      sendText(res, 404, `Not found: ${pathname}\n`);
      return;
    }
    const index = await this.findFile(root, ['index.html']);
    if (!index) {
      sendText(res, 503, notBuiltNote);
      return;
    }
    await this.sendFile(req, res, index.path, index.stats, false);
  }

  /** Returns the regular file at `segments` under `root` (a folder's index.html), or undefined. */
  private async findFile(root: string, segments: string[]): Promise<{ path: string; stats: Stats } | undefined> {
    if (segments.some((segment) => segment.startsWith('.'))) return undefined;
    let candidate = join(root, ...segments);
    let stats = await stat(candidate).catch(() => undefined);
    if (stats?.isDirectory()) {
      candidate = join(candidate, 'index.html');
      stats = await stat(candidate).catch(() => undefined);
    }
    if (!stats?.isFile()) return undefined;
    // A symbolic link inside the root may point outside it.
    const real = await realpath(candidate).catch(() => undefined);
    if (real === undefined || !real.startsWith(root + sep)) return undefined;
    return { path: real, stats };
  }

  private async sendFile(req: IncomingMessage, res: ServerResponse, path: string, stats: Stats, immutable: boolean): Promise<void> {
    const etag = `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
    res.setHeader('content-type', contentTypes[extname(path).toLowerCase()] ?? 'application/octet-stream');
    res.setHeader('cache-control', immutable ? immutableCacheControl : revalidateCacheControl);
    res.setHeader('etag', etag);
    res.setHeader('last-modified', stats.mtime.toUTCString());
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304);
      res.end();
      return;
    }
    res.setHeader('content-length', stats.size);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    try {
      await pipeline(createReadStream(path), res);
    } catch (error) {
      // A client that goes away mid-download ends the pipeline too, and is not worth a log line.
      if ((error as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') {
        this.log.warn({ err: error, path }, 'failed to send a page file');
      }
      res.destroy();
    }
  }
}

/**
 * Splits a URL path into decoded segments. Returns undefined for a path that
 * is not valid percent-encoded UTF-8, or that contains `..`, a backslash or a
 * NUL after decoding.
 */
export function decodePath(pathname: string): string[] | undefined {
  const segments: string[] = [];
  for (const raw of pathname.split('/')) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    if (segment === '..' || segment.includes('/') || segment.includes('\\') || segment.includes('\0')) return undefined;
    if (segment === '' || segment === '.') continue;
    segments.push(segment);
  }
  return segments;
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}
