import './mantine-styles.js';
import './page.css';
import { Center, Loader, MantineProvider } from '@mantine/core';
import { StrictMode, type ReactNode } from 'react';
import { createRoot } from 'react-dom/client';
import { Api } from './api.js';
import { AppContext } from './app-context.js';
import { App } from './App.js';
import { Auth } from './auth.js';
import { loadPageConfig } from './config.js';
import { StartupError } from './components/StartupError.js';
import { navigate } from './router.js';
import { theme } from './theme.js';

const container = document.getElementById('root');
if (container === null) throw new Error('index.html has no #root element');
const root = createRoot(container);

function render(content: ReactNode): void {
  root.render(
    <StrictMode>
      <MantineProvider theme={theme} defaultColorScheme="light">
        {content}
      </MantineProvider>
    </StrictMode>,
  );
}

async function start(): Promise<void> {
  render(
    <Center h="100vh">
      <Loader aria-label="Loading" />
    </Center>,
  );

  let config;
  try {
    config = await loadPageConfig();
  } catch (error) {
    render(<StartupError message={error instanceof Error ? error.message : String(error)} />);
    return;
  }

  const auth = new Auth(config);
  const api = new Api(config, auth);
  try {
    const returnPath = await auth.start();
    if (returnPath !== undefined) navigate(returnPath, { replace: true });
  } catch (error) {
    render(<StartupError message={`The sign-in state could not be loaded: ${error instanceof Error ? error.message : String(error)}`} />);
    return;
  }

  render(
    <AppContext.Provider value={{ config, auth, api }}>
      <App />
    </AppContext.Provider>,
  );
}

void start();
