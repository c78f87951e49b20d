import { Queue } from 'bullmq';
import type { Logger } from '../../shared/observability/logger.js';
import { resolveMarkings } from '../../shared/opencti/markings.js';
import { destinationKeys, queuePrefix, type QueuedJobData } from '../../shared/queue/contract.js';
import { logErrorEvents, type RedisClient } from '../../shared/redis/client.js';
import { createEventFilter } from '../../shared/routing/event-filter.js';
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
  for (const { name, variablePrefix, settings } of destinations) {
    const keys = destinationKeys(connectorId, name);
    depthQueues.push(open(keys.queueName, connections.main));
    routes.push({
      name,
      queue: open(keys.queueName, connections.commits),
      orderScope: keys.orderScope,
      filter: createEventFilter({
        eventTypes: settings.event_types,
        entityTypes: settings.entity_types,
        excludedMarkings: settings.markings_exclude && resolveMarkings(settings.markings_exclude, `${variablePrefix}MARKINGS_EXCLUDE`),
      }),
      expression: settings.filter !== undefined,
      ordered: settings.ordering === 'entity',
    });
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
