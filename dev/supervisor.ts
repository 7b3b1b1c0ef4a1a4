import { errorMessage } from '../common/errors.js';
import type { Stack } from './stack.js';

/** How often the supervisor looks for exited processes. */
const checkIntervalMs = 1_000;
const firstDelayMs = 1_000;
const maxDelayMs = 30_000;
/** A process that ran this long before it exited starts again after the first delay. */
const healthyRunMs = 60_000;

interface Restarts {
  delayMs: number;
  startedAtMs: number;
}

/**
 * Starts the processes of a local stack again when they exit without being
 * asked: the services and the stack's own nats-server. Compose and
 * Kubernetes do the same for deployments. A process that keeps exiting
 * waits twice as long each time, up to 30 s. Stops when `signal` aborts.
 */
export function superviseStack(stack: Stack, signal: AbortSignal, report: (line: string) => void): void {
  const restarts = new Map<string, Restarts>();
  const busy = new Set<string>();

  const restartLater = (name: string, restart: () => Promise<void>) => {
    if (busy.has(name)) return;
    busy.add(name);
    const previous = restarts.get(name);
    const ranLong = previous === undefined || Date.now() - previous.startedAtMs >= healthyRunMs;
    const delayMs = ranLong ? firstDelayMs : Math.min(previous.delayMs * 2, maxDelayMs);
    report(`faas stack: starting ${name} again in ${delayMs / 1000} s`);
    const cancel = () => clearTimeout(timer);
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', cancel);
      if (signal.aborted) return;
      restart().then(
        () => report(`faas stack: ${name} is running again`),
        (error: unknown) => report(`faas stack: starting ${name} again failed: ${errorMessage(error)}`),
      ).finally(() => {
        restarts.set(name, { delayMs, startedAtMs: Date.now() });
        busy.delete(name);
      });
    }, delayMs);
    signal.addEventListener('abort', cancel, { once: true });
  };

  const check = () => {
    if (signal.aborted) return;
    const nats = stack.natsServer;
    if (nats && !nats.running && !busy.has('nats-server')) {
      // The stack reports the exits of services itself, but not that of nats-server.
      report('faas stack: nats-server exited');
      restartLater('nats-server', () => nats.restart());
    }
    for (const service of stack.services()) {
      // Under npm start the observer starts and replaces the workers, so they are not among the services.
      if (!service.running) restartLater(service.name, () => stack.restartService(service.name));
    }
  };
  const interval = setInterval(check, checkIntervalMs);
  signal.addEventListener('abort', () => clearInterval(interval), { once: true });
}
