import { Readiness } from '../../common/readiness.js';
import { runTelemetryService } from '../../common/service-main.js';

// The service's modules load after telemetry has started; see runTelemetryService.
runTelemetryService('edge', async (log) => {
  const { readEdgeConfig } = await import('./config.js');
  const { startEdge } = await import('./edge.js');
  const edge = await startEdge(readEdgeConfig(), log);
  // The edge needs nothing to serve the page, so the metrics endpoint's
  // /healthz reports it ready while it runs. The /healthz on the page port
  // checks the gateway.
  return { readiness: new Readiness(), stop: () => edge.close() };
});
