import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const helper = fileURLToPath(new URL('./stop-signals.ts', import.meta.url));

// A script that takes 1.5 s to stop, and prints which of the two ways it took.
const script = `
import { onStopSignals } from ${JSON.stringify(helper)};
onStopSignals(
  (signal) => { console.log('stopping after ' + signal); setTimeout(() => { console.log('stopped'); process.exit(0); }, 1500); },
  () => { console.log('stopping at once'); process.exit(130); },
);
setInterval(() => undefined, 1000);
console.log('ready');
`;

/** Starts the script, sends SIGTERM twice `gapMs` apart, and resolves with its output and exit code. */
async function signalTwice(gapMs: number): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  const exited = once(child, 'exit') as Promise<[number | null]>;
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('ready')) resolve();
      });
      child.once('exit', () => reject(new Error(`the script exited before it was ready: ${output}`)));
    });
    child.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, gapMs));
    child.kill('SIGTERM');
    const [code] = await exited;
    return { code, output };
  } finally {
    child.kill('SIGKILL');
  }
}

describe('stop signals', function () {
  this.timeout(20_000);

  // npm gives a script two signals at once when the whole process group gets one.
  it('counts two signals at once as one', async () => {
    const { code, output } = await signalTwice(0);
    assert.equal(output, 'ready\nstopping after SIGTERM\nstopped\n');
    assert.equal(code, 0);
  });

  it('stops at once at a second signal a moment later', async () => {
    const { code, output } = await signalTwice(1_200);
    assert.equal(output, 'ready\nstopping after SIGTERM\nstopping at once\n');
    assert.equal(code, 130);
  });
});
