import { Button, EmptyState } from '@mantine/core';
import { navigate } from '../router.js';

export function NotFoundPage({ path }: { path: string }) {
  return (
    <EmptyState mt="xl" title="Page not found" description={`There is no page at ${path}.`}>
      <EmptyState.Actions>
        <Button onClick={() => navigate('/')}>Go to your jobs</Button>
      </EmptyState.Actions>
    </EmptyState>
  );
}
