import { createLogger } from '../../common/logger.js';
import { runService } from '../../common/service-main.js';
import { readWorkerConfig } from './config.js';
import { startWorker } from './worker.js';

const log = createLogger('worker');
runService(log, async () => startWorker(readWorkerConfig(), log));
