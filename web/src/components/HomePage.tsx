import { Grid, Stack } from '@mantine/core';
import type { Job } from '../../../gen/web/faas/v1/job';
import { jobPath, navigate } from '../router.js';
import { JobList } from './JobList.js';
import { ScalingPanel } from './ScalingPanel.js';
import { SubmitJobForm } from './SubmitJobForm.js';

export function HomePage({ admin }: { admin: boolean }) {
  const opened = (job: Job) => navigate(jobPath(job.id));
  return (
    <Stack gap="lg">
      <Grid gap="lg" align="flex-start">
        <Grid.Col span={{ base: 12, md: 5, lg: 4 }}>
          <SubmitJobForm onSubmitted={opened} />
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 7, lg: 8 }}>
          <JobList admin={admin} />
        </Grid.Col>
      </Grid>
      {admin && <ScalingPanel />}
    </Stack>
  );
}
