import { createLogger } from '../../common/logger.js';
import { runService } from '../../common/service-main.js';
import { readSchedulerConfig } from './config.js';
import { startScheduler } from './scheduler.js';

const log = createLogger('scheduler');
runService(log, async () => startScheduler(readSchedulerConfig(), log));
