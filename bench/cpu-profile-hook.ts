/**
 * Loaded with `--import` through NODE_OPTIONS (which rejects --cpu-prof on
 * Node 20): starts the V8 CPU profiler in this process and writes
 * `<FAAS_BENCH_CPU_PROFILE_DIR>/cpu-<pid>.cpuprofile` when the process
 * exits. A process killed by a signal it does not handle writes nothing.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';

const folder = process.env.FAAS_BENCH_CPU_PROFILE_DIR;
if (folder) {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.start');
  process.once('exit', () => {
    // Posts on a session of the process's own thread complete synchronously, so this runs before the exit.
    session.post('Profiler.stop', (error, result) => {
      if (!error) writeFileSync(join(folder, `cpu-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
