import { Alert, Anchor, AppShell, Badge, Button, Container, Group, Text, Title } from '@mantine/core';
import { useEffect, useState } from 'react';
import { identityDefaults } from '../../common/identity-defaults.js';
import { useServices, useSession } from './app-context.js';
import { HomePage } from './components/HomePage.js';
import { JobPage } from './components/JobPage.js';
import { NotFoundPage } from './components/NotFoundPage.js';
import { SignInScreen } from './components/SignInScreen.js';
import { navigate, useRoute } from './router.js';
import type { Account } from './auth.js';

export function App() {
  const session = useSession();
  const route = useRoute();

  const title = route.name === 'job' ? `Job ${route.jobId} - faas` : 'faas';
  useEffect(() => {
    document.title = title;
  }, [title]);

  if (session.status === 'starting') return null;
  if (session.status === 'signed-out') return <SignInScreen error={session.error} />;

  return (
    <AppShell header={{ height: 60 }} padding="lg">
      <AppShell.Header>
        <Header account={session.account} />
      </AppShell.Header>
      <AppShell.Main className="page-main">
        <Container size="xl" px={0}>
          {session.renewalError !== undefined && <RenewalAlert message={session.renewalError} />}
          {route.name === 'home' && <HomePage admin={session.account.admin} />}
          {route.name === 'job' && <JobPage key={route.jobId} jobId={route.jobId} />}
          {route.name === 'not-found' && <NotFoundPage path={route.path} />}
        </Container>
      </AppShell.Main>
    </AppShell>
  );
}

function Header({ account }: { account: Account }) {
  const { auth } = useServices();
  const [signingOut, setSigningOut] = useState(false);

  const signOut = async () => {
    setSigningOut(true);
    try {
      await auth.signOut();
    } finally {
      setSigningOut(false);
    }
  };

  return (
    <Container size="xl" h="100%" px="lg">
      <Group h="100%" justify="space-between" wrap="nowrap">
        <Group gap="xs" wrap="nowrap">
          <Anchor
            href="/"
            underline="never"
            c="inherit"
            onClick={(event) => {
              event.preventDefault();
              navigate('/');
            }}
          >
            <Title order={3} className="brand">
              faas
            </Title>
          </Anchor>
          <Text size="sm" c="dimmed" visibleFrom="sm">
            git repositories as sandboxed jobs
          </Text>
        </Group>
        <Group gap="sm" wrap="nowrap">
          <Text size="sm" fw={600} data-testid="account-name">
            {account.name}
          </Text>
          <Group gap={4} data-testid="account-roles" visibleFrom="xs">
            {account.roles.length === 0 ? (
              <Badge variant="outline" tt="none" color="gray">
                no roles
              </Badge>
            ) : (
              account.roles.map((role) => (
                <Badge key={role} variant="light" tt="none" color={role === identityDefaults.adminRole ? 'grape' : 'gray'}>
                  {role}
                </Badge>
              ))
            )}
          </Group>
          <Button variant="default" size="xs" onClick={() => void signOut()} loading={signingOut}>
            Sign out
          </Button>
        </Group>
      </Group>
    </Container>
  );
}

function RenewalAlert({ message }: { message: string }) {
  const { auth } = useServices();
  return (
    <Alert color="orange" title="Session expired" mb="lg">
      <Group justify="space-between">
        <Text size="sm">{message}</Text>
        <Button size="xs" color="orange" onClick={() => void auth.signIn()}>
          Sign in again
        </Button>
      </Group>
    </Alert>
  );
}
