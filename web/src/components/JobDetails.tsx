import { Card, Code, DataList, Text, Title } from '@mantine/core';
import type { ReactNode } from 'react';
import type { Job } from '../../../gen/web/faas/v1/job';
import { describeLimits, formatArgv, formatBytes, formatDateTime, formatDuration, isFinal, jobDurationMs } from '../format.js';
import { useNow } from '../use-now.js';
import { describeAttempt } from '../../../common/attempts.js';

/** Renders what was submitted and how far the job got: repository, command, attempt, worker and times. */
export function JobDetails({ job }: { job: Job }) {
  const spec = job.spec;
  const envNames = Object.keys(spec?.env ?? {}).sort();
  const command = formatArgv(spec?.command ?? []);
  const args = formatArgv(spec?.args ?? []);
  const now = useNow(!isFinal(job.state));
  const duration = jobDurationMs(job, now);
  const rows: Array<[string, ReactNode]> = [
    ['Repository', <Text size="sm" style={{ wordBreak: 'break-all' }}>{spec?.repositoryUrl ?? '-'}</Text>],
    ['Ref', spec?.ref === '' || spec?.ref === undefined ? 'default branch' : spec.ref],
    ['Commit', job.commitSha === '' ? '-' : <Code>{job.commitSha.slice(0, 12)}</Code>],
    ['Command', command !== '' ? <Code style={{ wordBreak: 'break-all' }}>{command}</Code> : job.entrypoint !== '' ? <><Code>{job.entrypoint}</Code> found by convention</> : 'convention entrypoint'],
    ['Arguments', args === '' ? 'none' : <Code style={{ wordBreak: 'break-all' }}>{args}</Code>],
    ['Environment', envNames.length === 0 ? 'none' : envNames.join(', ')],
    ['Input', job.inputSizeBytes === 0 ? 'none' : formatBytes(job.inputSizeBytes)],
    // What the job requested: a worker caps it at its maximum, and names the limits it applies once it accepts the job.
    ['Timeout requested', spec?.timeoutSeconds ? `${spec.timeoutSeconds} s` : 'operator default'],
    ['Memory requested', spec?.limits?.memoryBytes ? formatBytes(spec.limits.memoryBytes) : 'operator default'],
    ['Limits applied', job.appliedLimits ? describeLimits(job.appliedLimits) : '-'],
    ['Attempt', job.attempt === 0 ? 'not started' : describeAttempt(job)],
    ['Worker', job.workerId === '' ? '-' : job.workerId],
    ['Created', formatDateTime(job.createdAt)],
    ['Started', formatDateTime(job.startedAt)],
    ['Finished', formatDateTime(job.finishedAt)],
    ['Duration', duration === undefined ? '-' : formatDuration(duration)],
  ];
  if (job.ownerName !== '') rows.push(['Owner', job.ownerName]);

  return (
    <Card withBorder padding="lg" h="100%">
      <Title order={4} mb="sm">
        Details
      </Title>
      <DataList size="sm" labelWidth="7rem" gap={6}>
        {rows.map(([label, value]) => (
          <DataList.Item key={label}>
            <DataList.ItemLabel>{label}</DataList.ItemLabel>
            <DataList.ItemValue>{value}</DataList.ItemValue>
          </DataList.Item>
        ))}
      </DataList>
    </Card>
  );
}
