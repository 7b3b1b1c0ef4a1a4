import { runTelemetryService } from '../../common/service-main.js';

// The service's modules load after telemetry has started; see runTelemetryService.
runTelemetryService('scheduler', async (log) => {
  const { readSchedulerConfig } = await import('./config.js');
  const { startScheduler } = await import('./scheduler.js');
  return startScheduler(readSchedulerConfig(), log);
});
