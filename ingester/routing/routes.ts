import { Queue } from 'bullmq';
import type { Logger } from '../../shared/observability/logger.js';
import { destinationKeys, queuePrefix, type QueuedJobData } from '../../shared/queue/contract.js';
import { logErrorEvents, type RedisClient } from '../../shared/redis/client.js';
import { destinationFilter } from '../../shared/routing/event-filter.js';
import type { IngesterDestination } from '../config.js';
import type { Route } from './router.js';

/**
 * The destinations' queues as the ingester uses them: on the commit
 * connection for the commits (the routes), on the main connection for the
 * queue depth the backpressure reads.
 */
export interface DestinationQueues {
  routes: Route[];
  /** The depth of the fullest destination queue: reading stops when any one is full, so Redis memory stays bounded whichever destination is down. */
  depth: Pick<Queue, 'getJobCountByTypes'>;
  close(): Promise<void>;
}

/** How the ingester routes to one destination: its queue, its lines, its filters. */
export function routeOf(destination: IngesterDestination, queue: Queue, orderScope: string): Route {
  const { name, settings } = destination;
  return { name, queue, orderScope, filter: destinationFilter(destination), expression: settings.filter !== undefined, ordered: settings.ordering === 'entity' };
}

export function openDestinationQueues(
  destinations: readonly IngesterDestination[],
  connectorId: string,
  connections: { main: RedisClient; commits: RedisClient },
  logger: Logger,
): DestinationQueues {
  const prefix = queuePrefix(connectorId);
  const queues: Queue[] = [];
  const open = (name: string, connection: RedisClient): Queue<QueuedJobData> => {
    const queue = new Queue<QueuedJobData>(name, { connection, prefix });
    logErrorEvents(queue, 'queue.error', connection, logger);
    queues.push(queue);
    return queue;
  };
  const routes: Route[] = [];
  const depthQueues: Queue[] = [];
  for (const destination of destinations) {
    const keys = destinationKeys(connectorId, destination.name);
    depthQueues.push(open(keys.queueName, connections.main));
    routes.push(routeOf(destination, open(keys.queueName, connections.commits), keys.orderScope));
  }
  return {
    routes,
    depth: {
      getJobCountByTypes: async (...types) => Math.max(...(await Promise.all(depthQueues.map((queue) => queue.getJobCountByTypes(...types))))),
    },
    close: async () => {
      await Promise.all(queues.map((queue) => queue.close()));
    },
  };
}
