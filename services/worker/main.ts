import { runTelemetryService } from '../../common/service-main.js';

// The service's modules load after telemetry has started; see runTelemetryService.
runTelemetryService('worker', async (log) => {
  const { readWorkerConfig } = await import('./config.js');
  const { startWorker } = await import('./worker.js');
  return startWorker(readWorkerConfig(), log);
});
