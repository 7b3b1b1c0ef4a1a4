import { Badge, Card, Group, Loader, Text, Title } from '@mantine/core';
import { Fragment, useLayoutEffect, useRef } from 'react';
import { formatBytes } from '../format.js';
import { useJobLogs } from '../use-job-logs.js';

/** Distance from the bottom, in pixels, within which the view keeps following new output. */
const followThresholdPx = 24;

/** Renders the job's output as it streams, stdout and stderr in different colors, and follows the end while scrolled to it. */
export function LogView({ jobId }: { jobId: string }) {
  const logs = useJobLogs(jobId);
  const viewport = useRef<HTMLPreElement>(null);
  const following = useRef(true);

  useLayoutEffect(() => {
    const element = viewport.current;
    if (element !== null && following.current) element.scrollTop = element.scrollHeight;
  }, [logs.segments]);

  const onScroll = () => {
    const element = viewport.current;
    if (element === null) return;
    following.current = element.scrollTop + element.clientHeight >= element.scrollHeight - followThresholdPx;
  };

  const empty = logs.segments.length === 0;
  return (
    <Card withBorder padding="lg" component="section" aria-labelledby="logs-title">
      <Group justify="space-between" mb="sm">
        <Group gap="sm">
          <Title order={4} id="logs-title">
            Output
          </Title>
          <LogStatus status={logs.status} />
        </Group>
        <Group gap={6}>
          <Badge variant="dot" color="gray" tt="none">
            stdout
          </Badge>
          <Badge variant="dot" color="red" tt="none">
            stderr
          </Badge>
        </Group>
      </Group>
      {logs.hiddenCharacters > 0 && (
        <Text size="xs" c="dimmed" mb={4}>
          The first {formatBytes(logs.hiddenCharacters)} of output are not shown, to keep the page responsive.
        </Text>
      )}
      {logs.error !== undefined && (
        <Text size="sm" c={logs.status === 'failed' ? 'red' : 'orange'} mb={4} data-testid="log-error">
          {logs.status === 'failed' ? 'The output stream failed' : 'The output stream was interrupted; reconnecting'}: {logs.error.message} ({logs.error.code})
        </Text>
      )}
      <pre className="log-view" ref={viewport} onScroll={onScroll} data-testid="log-view" data-status={logs.status}>
        {empty && <span className="log-placeholder">{logs.status === 'ended' ? 'The job wrote no output.' : 'Waiting for output…'}</span>}
        {logs.segments.map((segment, index) => {
          const previous = logs.segments[index - 1];
          const newAttempt = previous !== undefined && previous.attempt !== segment.attempt;
          return (
            <Fragment key={segment.key}>
              {newAttempt && <span className="log-attempt">{`--- attempt ${segment.attempt} ---\n`}</span>}
              <span className={`log-${segment.stream}`} data-stream={segment.stream}>
                {segment.text}
              </span>
            </Fragment>
          );
        })}
      </pre>
    </Card>
  );
}

function LogStatus({ status }: { status: 'connecting' | 'streaming' | 'ended' | 'failed' }) {
  if (status === 'ended') {
    return (
      <Text size="xs" c="dimmed" data-testid="log-status">
        complete
      </Text>
    );
  }
  if (status === 'failed') {
    return (
      <Text size="xs" c="red" data-testid="log-status">
        stopped
      </Text>
    );
  }
  return (
    <Group gap={6} data-testid="log-status">
      <Loader size={12} type="dots" />
      <Text size="xs" c="dimmed">
        {status === 'connecting' ? 'connecting' : 'live'}
      </Text>
    </Group>
  );
}
