import type { Queue } from 'bullmq';
import { createLogger } from '../../shared/observability/logger.js';
import { Router } from '../../ingester/routing/router.js';

/** A router with one destination that takes every event into `queue` (the single-webhook setup). */
export function singleRouter(queue: Queue): Router {
  return new Router({
    routes: [{ name: 'default', queue, orderScope: queue.opts.prefix ?? '', filter: undefined, expression: false, ordered: false }],
    onFiltered: () => undefined,
    logger: createLogger('test', 'error'),
  });
}
