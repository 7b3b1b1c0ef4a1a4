import { createContext, useContext, useSyncExternalStore } from 'react';
import type { Api } from './api.js';
import type { Auth, Session } from './auth.js';
import type { PageConfig } from './config.js';

export interface AppServices {
  config: PageConfig;
  auth: Auth;
  api: Api;
}

export const AppContext = createContext<AppServices | undefined>(undefined);

export function useServices(): AppServices {
  const services = useContext(AppContext);
  if (services === undefined) throw new Error('useServices must be called inside AppContext');
  return services;
}

export function useApi(): Api {
  return useServices().api;
}

/** Returns the sign-in session and re-renders when it changes. */
export function useSession(): Session {
  const { auth } = useServices();
  return useSyncExternalStore(auth.subscribe, auth.getSnapshot);
}
