import assert from 'node:assert/strict';
import { FailureReason, JobState } from '../gen/faas/v1/job.js';
import { Mesh, finalRecord } from './harness.js';

// Node's spawn() reports ENOENT and EACCES with an 'error' event, but throws
// at once for other errors of execve, such as ENOTDIR and ENAMETOOLONG.
describe('program that cannot start', function () {
  this.timeout(60_000);
  let mesh: Mesh;

  before(async () => {
    mesh = await Mesh.start({ workers: 1 });
  });
  after(async () => {
    await mesh?.stop();
  });

  const commands: Array<[string, string]> = [
    ['path through a file (ENOTDIR)', 'main.sh/run'],
    ['name longer than NAME_MAX (ENAMETOOLONG)', 'x'.repeat(300)],
  ];
  for (const [name, program] of commands) {
    it(`fails with START_FAILED for a ${name}`, async () => {
      const repo = await mesh.repository({ 'main.sh': 'echo unused\n' });
      const { job } = await mesh.client.submit({ repositoryUrl: repo.url, command: [program] });
      const done = await finalRecord(mesh, job!.id);

      assert.equal(done.state, JobState.JOB_STATE_FAILED);
      assert.equal(FailureReason[done.error!.reason], 'FAILURE_REASON_START_FAILED', done.error!.message);
      assert.match(done.error!.message, /could not start/);
    });
  }
});
