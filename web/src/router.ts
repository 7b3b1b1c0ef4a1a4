import { useSyncExternalStore } from 'react';

/** The page's views, read from the URL path. The edge serves index.html for every unknown path. */
export type Route = { name: 'home' } | { name: 'job'; jobId: string } | { name: 'not-found'; path: string };

const listeners = new Set<() => void>();

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  window.addEventListener('popstate', listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener('popstate', listener);
  };
}

function currentPath(): string {
  return window.location.pathname;
}

export function parseRoute(path: string): Route {
  if (path === '/' || path === '') return { name: 'home' };
  const job = /^\/jobs\/([^/]+)\/?$/.exec(path);
  if (job !== null) return { name: 'job', jobId: decodeURIComponent(job[1]) };
  return { name: 'not-found', path };
}

/** Returns the route of the current URL and re-renders when it changes. */
export function useRoute(): Route {
  return parseRoute(useSyncExternalStore(subscribe, currentPath));
}

/** Moves to `path` inside the page without reloading it. */
export function navigate(path: string, options: { replace?: boolean } = {}): void {
  if (options.replace) window.history.replaceState(null, '', path);
  else window.history.pushState(null, '', path);
  for (const listener of listeners) listener();
}

export function jobPath(jobId: string): string {
  return `/jobs/${encodeURIComponent(jobId)}`;
}
