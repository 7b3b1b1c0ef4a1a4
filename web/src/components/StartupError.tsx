import { Alert, Button, Center, Stack, Text, Title } from '@mantine/core';

/** Shown when the page cannot load its settings, before anything else works. */
export function StartupError({ message }: { message: string }) {
  return (
    <Center mih="100vh" p="md">
      <Stack maw={520}>
        <Title order={2}>faas</Title>
        <Alert color="red" title="The page could not start">
          <Text size="sm">{message}</Text>
        </Alert>
        <Button variant="default" onClick={() => window.location.reload()}>
          Reload
        </Button>
      </Stack>
    </Center>
  );
}
