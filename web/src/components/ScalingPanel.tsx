import { Badge, Button, Card, EmptyState, Group, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useCallback, useEffect, useState } from 'react';
import type { ScaleEvent, ScaleResponse } from '../../../gen/web/faas/observer/v1/observer_service';
import { toApiError, type ApiError } from '../api.js';
import { useApi } from '../app-context.js';
import { formatDateTime, formatTime } from '../format.js';
import { ErrorAlert } from './ErrorAlert.js';

/** How often the panel calls the observer again, in milliseconds. */
const refreshIntervalMs = 5_000;
const eventLimit = 20;

/** Shows admins the autoscaler's latest decision and its recent changes. The gateway checks the role on each call. */
export function ScalingPanel() {
  const api = useApi();
  const [decision, setDecision] = useState<ScaleResponse>();
  const [decisionError, setDecisionError] = useState<ApiError>();
  const [events, setEvents] = useState<ScaleEvent[]>();
  const [eventsError, setEventsError] = useState<ApiError>();
  const [refreshes, setRefreshes] = useState(0);
  const refresh = useCallback(() => setRefreshes((count) => count + 1), []);

  useEffect(() => {
    let current = true;
    api.scale().then(
      (response) => {
        if (!current) return;
        setDecision(response);
        setDecisionError(undefined);
      },
      (error: unknown) => {
        if (current) setDecisionError(toApiError(error));
      },
    );
    api.listScaleEvents(eventLimit).then(
      (response) => {
        if (!current) return;
        setEvents(response.events);
        setEventsError(undefined);
      },
      (error: unknown) => {
        if (current) setEventsError(toApiError(error));
      },
    );
    const timer = window.setTimeout(refresh, refreshIntervalMs);
    return () => {
      current = false;
      window.clearTimeout(timer);
    };
  }, [api, refresh, refreshes]);

  return (
    <Card withBorder padding="lg" component="section" aria-labelledby="scaling-title" data-testid="scaling-panel">
      <Group justify="space-between" mb="md">
        <div>
          <Title order={3} id="scaling-title">
            Scaling
          </Title>
          <Text size="sm" c="dimmed">
            The observer's decision on how many workers the queue needs. Only admins see this.
          </Text>
        </div>
        <Button size="xs" variant="default" onClick={refresh}>
          Refresh
        </Button>
      </Group>
      <Stack gap="lg">
        {decisionError !== undefined && <ErrorAlert error={decisionError} title="No scaling decision" />}
        {decision !== undefined && <Decision decision={decision} />}
        <div>
          <Title order={5} mb="xs">
            Recent scale events
          </Title>
          {eventsError !== undefined && <ErrorAlert error={eventsError} title="The scale events could not be read" />}
          {events !== undefined && events.length === 0 && (
            <EmptyState size="sm" py="md" title="No scale events yet" description="The desired worker count has not changed since the observer started." />
          )}
          {events !== undefined && events.length > 0 && <EventTable events={events} />}
        </div>
      </Stack>
    </Card>
  );
}

function Decision({ decision }: { decision: ScaleResponse }) {
  const metrics = decision.metrics;
  const figures: Array<[string, number | string, string]> = [
    ['Desired workers', decision.desiredWorkers, 'Workers the observer asks for now'],
    ['Current workers', decision.currentWorkers, 'Workers connected to the scheduler'],
    ['Needed now', decision.neededWorkers, 'Workers the current demand alone needs, before the delays apply'],
    ['Slots per worker', decision.slotsPerWorker, 'Jobs one worker runs at once'],
    ['Pending jobs', metrics?.pending ?? 0, 'Queued jobs not yet handed to a worker'],
    ['In flight', metrics?.ackPending ?? 0, 'Jobs handed out and not yet finished'],
    ['Redelivered', metrics?.redelivered ?? 0, 'Jobs delivered more than once'],
    ['Waiting pulls', metrics?.waiting ?? 0, 'Pull requests waiting for jobs'],
  ];
  return (
    <Stack gap="sm" data-testid="scale-decision">
      <SimpleGrid cols={{ base: 2, sm: 4, lg: 8 }} spacing="sm">
        {figures.map(([label, value, help]) => (
          <div key={label} className="figure" title={help}>
            <Text size="xs" c="dimmed">
              {label}
            </Text>
            <Text size="xl" fw={700}>
              {value}
            </Text>
          </div>
        ))}
      </SimpleGrid>
      <Group gap="xs">
        {decision.panic && (
          <Badge color="orange" variant="light">
            fast scale-up
          </Badge>
        )}
        <Text size="sm">{decision.reason}</Text>
        <Text size="xs" c="dimmed">
          decided {formatDateTime(decision.decidedAt)}
        </Text>
      </Group>
    </Stack>
  );
}

function EventTable({ events }: { events: ScaleEvent[] }) {
  return (
    <Table.ScrollContainer minWidth={520}>
      <Table verticalSpacing={6} data-testid="scale-events">
        <Table.Thead>
          <Table.Tr>
            <Table.Th>Time</Table.Th>
            <Table.Th>Workers</Table.Th>
            <Table.Th>Pending</Table.Th>
            <Table.Th>In flight</Table.Th>
            <Table.Th>Reason</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {events.map((event, index) => (
            <Table.Tr key={`${event.decidedAt?.seconds ?? 0}-${index}`}>
              <Table.Td>{formatTime(event.decidedAt)}</Table.Td>
              <Table.Td>
                {event.fromWorkers} &rarr; {event.toWorkers}
              </Table.Td>
              <Table.Td>{event.metrics?.pending ?? 0}</Table.Td>
              <Table.Td>{event.metrics?.ackPending ?? 0}</Table.Td>
              <Table.Td>{event.reason}</Table.Td>
            </Table.Tr>
          ))}
        </Table.Tbody>
      </Table>
    </Table.ScrollContainer>
  );
}
