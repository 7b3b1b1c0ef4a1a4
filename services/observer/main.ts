import { createLogger } from '../../common/logger.js';
import { runService } from '../../common/service-main.js';
import { readObserverConfig } from './config.js';
import { startObserver } from './observer.js';

const log = createLogger('observer');
runService(log, async () => startObserver(readObserverConfig(), log));
