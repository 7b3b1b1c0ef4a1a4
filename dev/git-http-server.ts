import { spawn, type ChildProcess, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { resolve } from 'node:path';

/** Read-only git smart HTTP server on 127.0.0.1 for the bare repositories under `root`. */
export interface GitHttpServer {
  /** Base URL, `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly root: string;
  /** Returns `${url}/${name}.git`. */
  repositoryUrl(name: string): string;
  stop(): Promise<void>;
}

export interface GitHttpServerOptions {
  /** Receives each stderr line of `git http-backend` and each request failure. Lines are discarded when missing. */
  log?: (line: string) => void;
  /** Port on 127.0.0.1; 0 (the default) picks a free one. */
  port?: number;
}

const maxHeaderBytes = 64 * 1024;

/**
 * Serves every bare repository under `root` through `git http-backend` (CGI).
 * Clone and fetch work. Push is rejected, because http-backend only enables
 * receive-pack for authenticated requests and this server sets no REMOTE_USER.
 */
export async function startGitHttpServer(root: string, options: GitHttpServerOptions = {}): Promise<GitHttpServer> {
  const projectRoot = resolve(root);
  const log = options.log ?? (() => {});
  const backends = new Set<ChildProcess>();

  const server = createServer((request, response) => {
    handleRequest(projectRoot, request, response, backends, log);
  });
  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolveListen());
  });

  const address = server.address();
  if (address === null || typeof address === 'string') {
    server.close();
    throw new Error(`Unexpected listen address ${String(address)} for the git HTTP server`);
  }
  const url = `http://127.0.0.1:${address.port}`;

  return {
    url,
    root: projectRoot,
    repositoryUrl: (name) => `${url}/${name}.git`,
    async stop() {
      for (const backend of backends) {
        backend.kill('SIGKILL');
      }
      const closed = new Promise<void>((resolveClose) => server.close(() => resolveClose()));
      server.closeAllConnections();
      await closed;
    },
  };
}

function handleRequest(
  projectRoot: string,
  request: IncomingMessage,
  response: ServerResponse,
  backends: Set<ChildProcess>,
  log: (line: string) => void,
): void {
  // The raw request target is split by hand, because URL parsing would resolve ".." segments silently.
  const target = request.url ?? '/';
  const queryStart = target.indexOf('?');
  const rawPath = queryStart === -1 ? target : target.slice(0, queryStart);
  const queryString = queryStart === -1 ? '' : target.slice(queryStart + 1);

  let pathInfo: string;
  try {
    pathInfo = decodeURIComponent(rawPath);
  } catch {
    log(`Rejected ${request.method} ${target}: invalid percent-encoding in the path`);
    sendText(response, 400, 'Invalid percent-encoding in the request path\n');
    return;
  }
  if (!pathInfo.startsWith('/') || pathInfo.includes('\0') || pathInfo.split('/').some((part) => part === '..')) {
    log(`Rejected ${request.method} ${target}: invalid path ${JSON.stringify(pathInfo)}`);
    sendText(response, 400, `Invalid request path ${JSON.stringify(pathInfo)}\n`);
    return;
  }

  const backend = spawn('git', ['http-backend'], {
    env: cgiEnvironment(projectRoot, pathInfo, queryString, request),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  backends.add(backend);
  backend.once('close', () => backends.delete(backend));

  const stderrTail: string[] = [];
  backend.stderr.setEncoding('utf8');
  backend.stderr.on('data', (text: string) => {
    for (const line of text.split('\n').filter((part) => part !== '')) {
      stderrTail.push(line);
      if (stderrTail.length > 5) {
        stderrTail.shift();
      }
      log(`git http-backend ${request.method} ${pathInfo}: ${line}`);
    }
  });

  backend.once('error', (error) => {
    log(`git http-backend failed to start for ${request.method} ${pathInfo}: ${error.message}`);
    sendText(response, 500, `Failed to start git http-backend: ${error.message}\n`);
  });

  // The backend may exit before reading the whole body, for example on a 404.
  backend.stdin.on('error', () => {});
  request.pipe(backend.stdin);

  response.once('close', () => {
    if (backend.exitCode === null && backend.signalCode === null) {
      backend.kill('SIGKILL');
    }
  });

  relayCgiResponse(backend, response, () => stderrTail.join('\n'), log);
}

function cgiEnvironment(
  projectRoot: string,
  pathInfo: string,
  queryString: string,
  request: IncomingMessage,
): NodeJS.ProcessEnv {
  const environment: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    GIT_PROJECT_ROOT: projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: `HTTP/${request.httpVersion}`,
    PATH_INFO: pathInfo,
    REQUEST_METHOD: request.method ?? 'GET',
    QUERY_STRING: queryString,
    REMOTE_ADDR: request.socket.remoteAddress ?? '',
  };

  // git sends its request bodies gzip-compressed and its protocol version in Git-Protocol.
  const optionalHeaders: Array<[string, string]> = [
    ['CONTENT_TYPE', 'content-type'],
    ['CONTENT_LENGTH', 'content-length'],
    ['HTTP_CONTENT_ENCODING', 'content-encoding'],
    ['GIT_PROTOCOL', 'git-protocol'],
  ];
  for (const [variable, header] of optionalHeaders) {
    const value = request.headers[header];
    if (typeof value === 'string') {
      environment[variable] = value;
    }
  }
  return environment;
}

/**
 * Reads the CGI header block from the backend's stdout ("Status: 404 Not
 * Found", other headers, then an empty line), writes it as the HTTP status and
 * headers, and streams the rest of stdout as the body.
 */
function relayCgiResponse(
  backend: ChildProcessWithoutNullStreams,
  response: ServerResponse,
  describeStderr: () => string,
  log: (line: string) => void,
): void {
  let buffered = Buffer.alloc(0);

  const onData = (chunk: Buffer): void => {
    buffered = Buffer.concat([buffered, chunk]);
    const headerEnd = findHeaderEnd(buffered);
    if (headerEnd === undefined) {
      if (buffered.length > maxHeaderBytes) {
        backend.stdout.off('data', onData);
        backend.kill('SIGKILL');
        log(`git http-backend sent more than ${maxHeaderBytes} bytes without ending its headers`);
        sendText(response, 502, 'git http-backend sent an invalid CGI response\n');
      }
      return;
    }

    backend.stdout.off('data', onData);
    const headerText = buffered.subarray(0, headerEnd.start).toString('latin1');
    writeCgiHead(response, headerText);
    response.write(buffered.subarray(headerEnd.end));
    backend.stdout.pipe(response);
  };
  backend.stdout.on('data', onData);

  backend.once('close', (code, signal) => {
    if (response.headersSent) {
      return;
    }
    const reason = signal === null ? `exit code ${code}` : `signal ${signal}`;
    log(`git http-backend ended with ${reason} before sending headers`);
    sendText(response, 502, `git http-backend ended with ${reason} before sending headers\n${describeStderr()}\n`);
  });
}

function findHeaderEnd(buffer: Buffer): { start: number; end: number } | undefined {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  if (crlf !== -1 && (lf === -1 || crlf < lf)) {
    return { start: crlf, end: crlf + 4 };
  }
  if (lf !== -1) {
    return { start: lf, end: lf + 2 };
  }
  return undefined;
}

function writeCgiHead(response: ServerResponse, headerText: string): void {
  let statusCode = 200;
  let statusMessage: string | undefined;

  for (const line of headerText.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) {
      continue;
    }
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') {
      const match = /^(\d{3})\s*(.*)$/.exec(value);
      if (match !== null) {
        statusCode = Number(match[1]);
        statusMessage = match[2] === '' ? undefined : match[2];
      }
      continue;
    }
    const previous = response.getHeader(name);
    if (previous === undefined) {
      response.setHeader(name, value);
    } else {
      response.setHeader(name, [...(Array.isArray(previous) ? previous : [String(previous)]), value]);
    }
  }

  if (statusMessage === undefined) {
    response.writeHead(statusCode);
  } else {
    response.writeHead(statusCode, statusMessage);
  }
}

function sendText(response: ServerResponse, statusCode: number, text: string): void {
  if (response.writableEnded) {
    return;
  }
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response.writeHead(statusCode, { 'Content-Type': 'text/plain; charset=utf-8' });
  response.end(text);
}
