import { Anchor, Button, Card, EmptyState, Group, NativeSelect, Skeleton, Table, Text, Title } from '@mantine/core';
import { useCallback, useEffect, useState } from 'react';
import { JobState, type Job } from '../../../gen/web/faas/v1/job';
import { toApiError, type ApiError } from '../api.js';
import { useApi } from '../app-context.js';
import { describeRepository, formatDateTime, formatDuration, formatTime, isFinal, jobDurationMs, stateLabels } from '../format.js';
import { jobPath, navigate } from '../router.js';
import { useJobWatches } from '../use-job-watches.js';
import { useNow } from '../use-now.js';
import { ErrorAlert } from './ErrorAlert.js';
import { JobStateBadge } from './JobStateBadge.js';

const pageSize = 10;
/** How often the page is listed again while it shows unfinished jobs, in milliseconds. */
const pollIntervalMs = 10_000;

const stateFilterOptions = [
  { value: 'all', label: 'All states' },
  ...[JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED, JobState.TIMED_OUT, JobState.CANCELLED].map((state) => ({
    value: String(state),
    label: stateLabels[state],
  })),
];

/**
 * Lists the caller's jobs, newest first, a page at a time, with live states.
 * The gateway lists every user's jobs for an admin, so the list is then titled
 * All jobs and names each job's owner.
 */
export function JobList({ admin = false }: { admin?: boolean }) {
  const api = useApi();
  const [filter, setFilter] = useState('all');
  // Page tokens of the pages before the current one; the first page has the empty token.
  const [pageTokens, setPageTokens] = useState<string[]>(['']);
  const [jobs, setJobs] = useState<Job[]>();
  const [nextPageToken, setNextPageToken] = useState('');
  const [error, setError] = useState<ApiError>();
  const [loading, setLoading] = useState(false);
  // A quiet reload (the poll) shows no spinner on the Refresh button.
  const [reload, setReload] = useState({ count: 0, quiet: false });
  const pageToken = pageTokens[pageTokens.length - 1];

  useEffect(() => {
    const controller = new AbortController();
    if (!reload.quiet) setLoading(true);
    api
      .list({ state: filter === 'all' ? JobState.UNSPECIFIED : (Number(filter) as JobState), pageSize, pageToken })
      .then((response) => {
        if (controller.signal.aborted) return;
        setJobs(response.jobs);
        setNextPageToken(response.nextPageToken);
        setError(undefined);
      })
      .catch((caught: unknown) => {
        if (!controller.signal.aborted) setError(toApiError(caught));
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
  }, [api, filter, pageToken, reload]);

  const refresh = useCallback(() => setReload(({ count }) => ({ count: count + 1, quiet: false })), []);

  const hasUnfinished = jobs?.some((job) => !isFinal(job.state)) ?? false;
  useEffect(() => {
    if (!hasUnfinished) return;
    const timer = window.setInterval(() => setReload(({ count }) => ({ count: count + 1, quiet: true })), pollIntervalMs);
    return () => window.clearInterval(timer);
  }, [hasUnfinished]);

  useJobWatches(jobs ?? [], (updated) => setJobs((current) => current?.map((job) => (job.id === updated.id ? updated : job))));

  const changeFilter = (value: string) => {
    setFilter(value);
    setPageTokens(['']);
  };

  return (
    <Card withBorder padding="lg" component="section" aria-labelledby="jobs-title">
      <Group justify="space-between" mb="md">
        <Title order={3} id="jobs-title">
          {admin ? 'All jobs' : 'Your jobs'}
        </Title>
        <Group gap="xs">
          <NativeSelect
            aria-label="Filter by state"
            data={stateFilterOptions}
            value={filter}
            onChange={(event) => changeFilter(event.currentTarget.value)}
            w={140}
            size="xs"
          />
          <Button size="xs" variant="default" onClick={refresh} loading={loading && jobs !== undefined}>
            Refresh
          </Button>
        </Group>
      </Group>

      {error !== undefined && <ErrorAlert error={error} onRetry={refresh} title="The jobs could not be listed" />}

      {error === undefined && jobs === undefined && <JobTableSkeleton />}

      {jobs !== undefined && jobs.length === 0 && error === undefined && (
        <EmptyState
          py="xl"
          data-testid="jobs-empty"
          title={filter === 'all' ? 'No jobs yet' : `No ${stateLabels[Number(filter) as JobState].toLowerCase()} jobs`}
          description={filter !== 'all' ? 'Choose another state to see other jobs.' : admin ? 'Jobs that users submit show up here, newest first.' : 'Jobs you submit show up here, newest first.'}
        />
      )}

      {jobs !== undefined && jobs.length > 0 && <JobTable jobs={jobs} ticking={hasUnfinished} showOwner={admin} />}

      {(pageTokens.length > 1 || nextPageToken !== '') && (
        <Group justify="space-between" mt="md">
          <Button size="xs" variant="default" disabled={pageTokens.length === 1} onClick={() => setPageTokens((tokens) => tokens.slice(0, -1))}>
            Newer
          </Button>
          <Text size="sm" c="dimmed">
            Page {pageTokens.length}
          </Text>
          <Button size="xs" variant="default" disabled={nextPageToken === ''} onClick={() => setPageTokens((tokens) => [...tokens, nextPageToken])}>
            Older
          </Button>
        </Group>
      )}
    </Card>
  );
}

function JobTable({ jobs, ticking, showOwner }: { jobs: Job[]; ticking: boolean; showOwner: boolean }) {
  // Durations of running jobs count up.
  const now = useNow(ticking);
  return (
    <Table.ScrollContainer minWidth={560}>
      <Table highlightOnHover verticalSpacing="xs" data-testid="job-table">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Job</Table.Th>
            {showOwner && <Table.Th>Owner</Table.Th>}
            <Table.Th>Repository</Table.Th>
            <Table.Th>State</Table.Th>
            <Table.Th>Created</Table.Th>
            <Table.Th>Duration</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {jobs.map((job) => (
            <JobRow key={job.id} job={job} now={now} showOwner={showOwner} />
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}

function JobRow({ job, now, showOwner }: { job: Job; now: number; showOwner: boolean }) {
  const duration = jobDurationMs(job, now);
  const open = () => navigate(jobPath(job.id));
  return (
    <Table.Tr data-testid="job-row" data-job-id={job.id} onClick={open} style={{ cursor: 'pointer' }}>
      <Table.Td>
        <Anchor
          href={jobPath(job.id)}
          ff="monospace"
          size="sm"
          title={job.id}
          onClick={(event) => {
            event.preventDefault();
            event.stopPropagation();
            open();
          }}
        >
          {job.id.slice(-8)}
        </Anchor>
      </Table.Td>
      {showOwner && (
        <Table.Td maw={140} data-testid="job-owner">
          <Text size="sm" truncate="end" title={job.owner}>
            {job.ownerName || job.owner}
          </Text>
        </Table.Td>
      )}
      <Table.Td maw={260}>
        <Text size="sm" truncate="end" title={job.spec?.repositoryUrl}>
          {describeRepository(job)}
        </Text>
      </Table.Td>
      <Table.Td>
        <JobStateBadge job={job} size="sm" />
      </Table.Td>
      <Table.Td>
        <Text size="sm" title={formatDateTime(job.createdAt)}>
          {formatTime(job.createdAt)}
        </Text>
      </Table.Td>
      <Table.Td>
        <Text size="sm">{duration === undefined ? '-' : formatDuration(duration)}</Text>
      </Table.Td>
    </Table.Tr>
  );
}

function JobTableSkeleton() {
  return (
    <div aria-label="Loading jobs">
      {[0, 1, 2].map((row) => (
        <Skeleton key={row} height={28} mb="sm" />
      ))}
    </div>
  );
}
