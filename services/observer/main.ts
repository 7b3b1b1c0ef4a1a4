import { runTelemetryService } from '../../common/service-main.js';

// The service's modules load after telemetry has started; see runTelemetryService.
runTelemetryService('observer', async (log) => {
  const { readObserverConfig } = await import('./config.js');
  const { startObserver } = await import('./observer.js');
  return startObserver(readObserverConfig(), log);
});
