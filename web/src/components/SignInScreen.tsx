import { Alert, Button, Center, Paper, Stack, Text, Title } from '@mantine/core';
import { useState } from 'react';
import { useServices } from '../app-context.js';

export function SignInScreen({ error }: { error?: string }) {
  const { auth, config } = useServices();
  const [redirecting, setRedirecting] = useState(false);
  const [signInError, setSignInError] = useState<string>();

  const signIn = async () => {
    setRedirecting(true);
    setSignInError(undefined);
    try {
      await auth.signIn();
    } catch (caught) {
      setRedirecting(false);
      setSignInError(`The identity provider at ${config.issuer} could not be reached: ${caught instanceof Error ? caught.message : String(caught)}`);
    }
  };

  const shownError = signInError ?? error;
  return (
    <Center mih="100vh" p="md" className="page-main">
      <Paper withBorder shadow="sm" p="xl" w={420} maw="100%">
        <Stack>
          <div>
            <Title order={2} className="brand">
              faas
            </Title>
            <Text c="dimmed" size="sm">
              Run git repositories as sandboxed jobs, follow their output and read their results.
            </Text>
          </div>
          {shownError !== undefined && (
            <Alert color="red" title="Not signed in" data-testid="sign-in-error">
              {shownError}
            </Alert>
          )}
          <Button size="md" onClick={() => void signIn()} loading={redirecting}>
            Sign in
          </Button>
          <Text size="xs" c="dimmed">
            You sign in at {new URL(config.issuer).host}.
          </Text>
        </Stack>
      </Paper>
    </Center>
  );
}
