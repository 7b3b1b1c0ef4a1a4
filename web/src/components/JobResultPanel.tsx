import { Badge, Card, Center, Group, Loader, SimpleGrid, Stack, Tabs, Text, Title } from '@mantine/core';
import { useEffect, useState } from 'react';
import type { Job, JobResult } from '../../../gen/web/faas/v1/job';
import { toApiError, type ApiError } from '../api.js';
import { useApi } from '../app-context.js';
import { describeLimits, formatBytes, formatDuration } from '../format.js';
import { signalOfExitCode } from '../signals.js';
import { ErrorAlert } from './ErrorAlert.js';

/** Fetches and shows the Result of a finished job: exit code, timings, resources and the kept stdout and stderr. */
export function JobResultPanel({ job }: { job: Job }) {
  const api = useApi();
  const [result, setResult] = useState<JobResult>();
  const [error, setError] = useState<ApiError>();
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let current = true;
    setError(undefined);
    api
      .result(job.id)
      .then((response) => {
        if (!current) return;
        if (response.result === undefined) setError(toApiError(new Error('Result returned no result')));
        else setResult(response.result);
      })
      .catch((caught: unknown) => {
        if (current) setError(toApiError(caught));
      });
    return () => {
      current = false;
    };
  }, [api, job.id, attempt]);

  return (
    <Card withBorder padding="lg" h="100%" data-testid="job-result">
      <Title order={4} mb="sm">
        Result
      </Title>
      {error !== undefined && error.code === 'FAILED_PRECONDITION' && (
        <Text size="sm" c="dimmed" data-testid="no-result">
          {error.message}
        </Text>
      )}
      {error !== undefined && error.code !== 'FAILED_PRECONDITION' && <ErrorAlert error={error} onRetry={() => setAttempt((count) => count + 1)} />}
      {error === undefined && result === undefined && (
        <Center py="lg">
          <Loader size="sm" aria-label="Loading the result" />
        </Center>
      )}
      {result !== undefined && <ResultBody result={result} />}
    </Card>
  );
}

function ResultBody({ result }: { result: JobResult }) {
  // A program killed by a signal has no exit code, so the signal takes its place.
  // Without either, the program never started, as after a failed clone or build.
  const ran = result.exitCode !== undefined || result.signal !== '';
  let exitLabel = 'Exit code';
  let exitText = 'did not run';
  if (result.exitCode !== undefined) {
    exitText = String(result.exitCode);
  } else if (result.signal !== '') {
    exitLabel = 'Signal';
    exitText = result.signal;
  } else {
    exitLabel = 'Program';
  }
  let exitColor = 'red';
  if (result.exitCode === 0) exitColor = 'teal';
  else if (!ran) exitColor = 'gray';
  const stats: Array<[string, string]> = [
    ['Duration', formatDuration(result.durationMs)],
    ['Clone', formatDuration(result.cloneMs)],
    ['Build', result.buildMs === 0 ? '-' : formatDuration(result.buildMs)],
    ['Run', ran ? formatDuration(result.runMs) : '-'],
    ['CPU time', ran ? formatDuration(result.cpuTimeMs) : '-'],
    ['Peak memory', result.peakMemoryBytes === 0 ? '-' : formatBytes(result.peakMemoryBytes)],
    ['Output', formatBytes(result.outputBytes)],
    ['Isolation', result.isolation === '' ? '-' : result.isolation],
  ];

  return (
    <Stack gap="md">
      <Group gap="sm">
        <Text size="sm" c="dimmed">
          {exitLabel}
        </Text>
        <Badge size="lg" color={exitColor} variant="filled" data-testid="result-exit-code">
          {exitText}
        </Badge>
        {result.signal !== '' && result.exitCode !== undefined && <Badge color="red" variant="light">{result.signal}</Badge>}
        {result.signal === '' && signalOfExitCode(result.exitCode) !== undefined && (
          <Text size="sm" c="dimmed" data-testid="result-exit-signal">
            128 + {result.exitCode! - 128}: likely ended by {signalOfExitCode(result.exitCode)}
          </Text>
        )}
      </Group>
      <SimpleGrid cols={{ base: 2, sm: 4 }} spacing="sm" verticalSpacing="xs">
        {stats.map(([label, value]) => (
          <div key={label}>
            <Text size="xs" c="dimmed">
              {label}
            </Text>
            <Text size="sm" fw={600}>
              {value}
            </Text>
          </div>
        ))}
      </SimpleGrid>
      {result.appliedLimits !== undefined && (
        <Text size="xs" c="dimmed">
          Limits applied: {describeLimits(result.appliedLimits)}
        </Text>
      )}
      <Tabs defaultValue={result.stdout.length === 0 && result.stderr.length > 0 ? 'stderr' : 'stdout'} variant="outline">
        <Tabs.List>
          <Tabs.Tab value="stdout">stdout ({formatBytes(result.stdout.length)})</Tabs.Tab>
          <Tabs.Tab value="stderr">stderr ({formatBytes(result.stderr.length)})</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="stdout" pt="xs">
          <OutputBlock bytes={result.stdout} truncated={result.stdoutTruncated} testId="result-stdout" />
        </Tabs.Panel>
        <Tabs.Panel value="stderr" pt="xs">
          <OutputBlock bytes={result.stderr} truncated={result.stderrTruncated} testId="result-stderr" />
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}

function OutputBlock({ bytes, truncated, testId }: { bytes: Uint8Array; truncated: boolean; testId: string }) {
  if (bytes.length === 0) {
    return (
      <Text size="sm" c="dimmed" data-testid={testId}>
        Empty.
      </Text>
    );
  }
  return (
    <>
      <pre className="output-block" data-testid={testId}>
        {new TextDecoder().decode(bytes)}
      </pre>
      {truncated && (
        <Text size="xs" c="dimmed" mt={4}>
          The result keeps only the start of this stream; the log below streams all of it.
        </Text>
      )}
    </>
  );
}
