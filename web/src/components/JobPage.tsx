import { Alert, Anchor, Button, Center, EmptyState, Grid, Group, Loader, Stack, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { FailureReason } from '../../../gen/web/faas/v1/job';
import { toApiError, type ApiError } from '../api.js';
import { useApi } from '../app-context.js';
import { describeFailure, isFinal } from '../format.js';
import { navigate } from '../router.js';
import { useJobRecord } from '../use-job-record.js';
import { ErrorAlert } from './ErrorAlert.js';
import { JobDetails } from './JobDetails.js';
import { JobResultPanel } from './JobResultPanel.js';
import { JobStateBadge } from './JobStateBadge.js';
import { LogView } from './LogView.js';

/** Renders one job with its live state, output and result, and a Cancel button while it is unfinished. */
export function JobPage({ jobId }: { jobId: string }) {
  const api = useApi();
  const [record, replaceJob] = useJobRecord(jobId);
  const [cancelling, setCancelling] = useState(false);
  const [cancelError, setCancelError] = useState<ApiError>();
  const { job } = record;

  const cancel = async () => {
    // A cancel cannot be undone, and a running job stops at once.
    if (!window.confirm(`Cancel job ${jobId}? A running job is stopped at once, and this cannot be undone.`)) return;
    setCancelling(true);
    setCancelError(undefined);
    try {
      replaceJob(await api.cancel(jobId));
    } catch (error) {
      setCancelError(toApiError(error));
    } finally {
      setCancelling(false);
    }
  };

  const backLink = (
    <Anchor
      href="/"
      size="sm"
      onClick={(event) => {
        event.preventDefault();
        navigate('/');
      }}
    >
      &larr; All jobs
    </Anchor>
  );

  if (record.error !== undefined) {
    const notFound = record.error.code === 'NOT_FOUND' || record.error.code === 'INVALID_ARGUMENT';
    return (
      <Stack>
        {backLink}
        {notFound ? (
          <EmptyState mt="xl" title="Job not found" description={record.error.message} data-testid="job-not-found" />
        ) : (
          <ErrorAlert error={record.error} title="The job could not be loaded" />
        )}
      </Stack>
    );
  }

  if (job === undefined) {
    return (
      <Stack>
        {backLink}
        <Center py="xl">
          <Loader aria-label="Loading the job" />
        </Center>
      </Stack>
    );
  }

  const final = isFinal(job.state);
  return (
    <Stack gap="lg" data-testid="job-page" data-job-id={job.id}>
      {backLink}
      <Group justify="space-between" align="center">
        <Group gap="sm" align="center">
          <Title order={2} ff="monospace" fz={{ base: 'lg', sm: 'xl' }}>
            {job.id}
          </Title>
          <JobStateBadge job={job} size="lg" />
        </Group>
        {!final && (
          <Button color="red" variant="light" onClick={() => void cancel()} loading={cancelling} disabled={job.cancelRequested} data-testid="cancel-job">
            {job.cancelRequested ? 'Cancelling…' : 'Cancel job'}
          </Button>
        )}
      </Group>

      {cancelError !== undefined && <ErrorAlert error={cancelError} title="The job could not be cancelled" />}
      {record.streamError !== undefined && (
        <Alert color="orange" title="Live updates interrupted">
          <Text size="sm">
            {record.streamError.message} ({record.streamError.code}). {final ? '' : 'The page keeps trying to reconnect.'}
          </Text>
        </Alert>
      )}
      {job.error !== undefined && (
        <Alert color={stateAlertColor(job.error.reason)} title={describeFailure(job.error.reason)} data-testid="job-failure">
          {job.error.message}
        </Alert>
      )}

      <Grid gap="lg" align="stretch">
        <Grid.Col span={{ base: 12, md: 5 }}>
          <JobDetails job={job} />
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 7 }}>
          {final ? (
            <JobResultPanel job={job} />
          ) : (
            <EmptyState
              h="100%"
              className="card-like"
              icon={<Loader size="sm" />}
              title="No result yet"
              description="The exit code, timings and output appear here when the job finishes."
            />
          )}
        </Grid.Col>
      </Grid>

      <LogView jobId={job.id} />
    </Stack>
  );
}

/** Cancelled and timed-out jobs ended as asked, so only real failures are red. */
function stateAlertColor(reason: FailureReason): string {
  if (reason === FailureReason.CANCELLED) return 'yellow';
  if (reason === FailureReason.TIMED_OUT) return 'orange';
  return 'red';
}
