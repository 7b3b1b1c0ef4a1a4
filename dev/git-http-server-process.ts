import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startGitHttpServer, type GitHttpServer } from './git-http-server.js';

/** A git HTTP server running in a process of its own. */
export interface GitHttpServerProcess extends GitHttpServer {
  pid: number;
}

const startTimeoutMs = 20_000;

/**
 * Starts `startGitHttpServer(root)` in a child process, so that the `git
 * http-backend` processes it starts, and the time spent starting them, do
 * not land in the calling process. A benchmark measures its client in the
 * calling process; a real git server is never inside the client either.
 */
export async function startGitHttpServerProcess(root: string): Promise<GitHttpServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), root], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const lines = createInterface({ input: child.stdout! });
  const timer = setTimeout(() => child.kill('SIGKILL'), startTimeoutMs);
  try {
    const [line] = (await Promise.race([once(lines, 'line'), exited.then(() => [undefined])])) as [string | undefined];
    if (line === undefined) throw new Error(`the git HTTP server process exited before it listened (exit code ${child.exitCode})`);
    const { url } = JSON.parse(line) as { url: string };
    return {
      url,
      root,
      pid: child.pid!,
      repositoryUrl: (name) => `${url}/${name}.git`,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        // Closing stdin stops the server; SIGKILL follows when it has not exited within 5 s.
        child.stdin!.end();
        const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(killer);
      },
    };
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
    lines.close();
  }
}

// Run as a program: serve `root`, print the URL as one JSON line, and stop when stdin closes.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const server = await startGitHttpServer(process.argv[2]);
  process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
  process.stdin.resume();
  process.stdin.once('end', () => {
    void server.stop().then(() => process.exit(0));
  });
}
