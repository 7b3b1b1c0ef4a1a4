import { runTelemetryService } from '../../common/service-main.js';

// The service's modules load after telemetry has started; see runTelemetryService.
runTelemetryService('gateway', async (log) => {
  const { readGatewayConfig } = await import('./config.js');
  const { startGateway } = await import('./gateway.js');
  return startGateway(readGatewayConfig(), log);
});
