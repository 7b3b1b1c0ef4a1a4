import { Badge, Loader } from '@mantine/core';
import type { Job } from '../../../gen/web/faas/v1/job';
import { describeState, isFinal, stateColors, stateName } from '../format.js';

export function JobStateBadge({ job, size = 'md' }: { job: Job; size?: 'sm' | 'md' | 'lg' }) {
  const active = !isFinal(job.state);
  return (
    <Badge
      color={stateColors[job.state]}
      variant="light"
      size={size}
      data-testid="job-state"
      data-state={stateName(job.state)}
      leftSection={active ? <Loader size={10} color={stateColors[job.state]} type="oval" /> : undefined}
    >
      {describeState(job)}
    </Badge>
  );
}
