import { createLogger } from '../../common/logger.js';
import { runService } from '../../common/service-main.js';
import { readGatewayConfig } from './config.js';
import { startGateway } from './gateway.js';

const log = createLogger('gateway');
runService(log, async () => startGateway(readGatewayConfig(), log));
