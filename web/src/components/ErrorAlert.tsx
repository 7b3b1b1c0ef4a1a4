import { Alert, Button, Group, Text } from '@mantine/core';
import { ApiError } from '../api.js';

/** Readable titles of the gRPC status codes that calls return. */
const codeTitles: Record<string, string> = {
  INVALID_ARGUMENT: 'Invalid request',
  NOT_FOUND: 'Not found',
  ALREADY_EXISTS: 'Already exists',
  PERMISSION_DENIED: 'Permission denied',
  UNAUTHENTICATED: 'Not signed in',
  RESOURCE_EXHAUSTED: 'Limit reached',
  FAILED_PRECONDITION: 'Not possible now',
  UNAVAILABLE: 'Service unavailable',
  DEADLINE_EXCEEDED: 'Timed out',
  INTERNAL: 'Server error',
  UNIMPLEMENTED: 'Not supported',
};

export function errorTitle(error: ApiError): string {
  return codeTitles[error.code] ?? 'Request failed';
}

/** Shows a failed call: a title from its status code, the server's message and the code itself. */
export function ErrorAlert({ error, onRetry, title }: { error: ApiError; onRetry?: () => void; title?: string }) {
  return (
    <Alert color="red" variant="light" title={title ?? errorTitle(error)} data-testid="error-alert" data-code={error.code}>
      <Group justify="space-between" align="flex-start" wrap="nowrap">
        <div>
          <Text size="sm" style={{ wordBreak: 'break-word' }}>
            {error.message}
          </Text>
          <Text size="xs" c="dimmed" mt={4}>
            gRPC status {error.code}
          </Text>
        </div>
        {onRetry !== undefined && (
          <Button size="xs" variant="light" color="red" onClick={onRetry}>
            Retry
          </Button>
        )}
      </Group>
    </Alert>
  );
}
