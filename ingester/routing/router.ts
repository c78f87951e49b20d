import type { Queue } from 'bullmq';
import type { JsonataPool } from '../../shared/jsonata/pool.js';
import type { Logger } from '../../shared/observability/logger.js';
import { stixIdOf } from '../../shared/opencti/stix-id.js';
import type { EventFilter, FilterReason } from '../../shared/routing/event-filter.js';
import type { PendingEvent } from '../commit/job-packing.js';

/** One destination as the ingester sees it: its queue, its lines, and which events it takes. */
export interface Route {
  name: string;
  /** The destination's queue, on the connection the commits use. */
  queue: Queue;
  /** Prefix of its per-entity lines (DestinationKeys.orderScope). */
  orderScope: string;
  /** Event types, entity types, markings; undefined takes every event. */
  filter: EventFilter | undefined;
  /** True when its FILTER expression decides too (evaluated by `expressions` under the route's name). */
  expression: boolean;
  /** ORDERING=entity: its events wait behind the earlier events of their STIX object. */
  ordered: boolean;
}

/** The events of a commit that go to one destination, each as that destination queues it. */
export interface RoutedEvents {
  route: Route;
  events: PendingEvent[];
}

export interface RouterDeps {
  routes: readonly Route[];
  /** Evaluates the routes' FILTER expressions, a batch at a time, away from the event loop. */
  expressions?: Pick<JsonataPool, 'evaluateMany'> | undefined;
  /** Events a route did not take, by reason. */
  onFiltered: (destination: string, reason: FilterReason, count: number) => void;
  logger: Logger;
}

/**
 * Decides, for each event of a commit, which destinations get it, before
 * anything is written: a destination that takes 1 % of the events costs 1 %
 * of the queue work and Redis memory. A FILTER that fails on an event (an
 * error, or the time limit) keeps the event out of that destination, fail
 * closed, and says so: a filter often guards what must not leave (docs/templates-and-filters.md).
 */
export class Router {
  readonly #ordered: boolean;

  constructor(private readonly deps: RouterDeps) {
    this.#ordered = deps.routes.some((route) => route.ordered);
  }

  get routes(): readonly Route[] {
    return this.deps.routes;
  }

  async route(batch: readonly PendingEvent[]): Promise<RoutedEvents[]> {
    // The STIX id is read once per event, and only when some destination orders by entity.
    const entities = this.#ordered ? batch.map(({ job }) => stixIdOf(job.body)) : undefined;
    return Promise.all(this.deps.routes.map(async (route) => ({ route, events: await this.#eventsFor(route, batch, entities) })));
  }

  async #eventsFor(route: Route, batch: readonly PendingEvent[], entities: ReadonlyArray<string | undefined> | undefined): Promise<PendingEvent[]> {
    // A destination that takes everything, unordered (the single-webhook setup): the batch as it is.
    if (!route.filter && !route.expression && !route.ordered) return batch as PendingEvent[];
    const filtered = new Map<FilterReason, number>();
    const count = (reason: FilterReason): void => {
      filtered.set(reason, (filtered.get(reason) ?? 0) + 1);
    };
    let taken: Candidate[] = [];
    batch.forEach((event, index) => {
      const reason = route.filter?.(event.job.event, event.job.body);
      if (reason === undefined) taken.push({ event, entity: entities?.[index] });
      else count(reason);
    });
    if (route.expression && taken.length > 0) taken = await this.#expressionFilter(route, taken, count);
    for (const [reason, events] of filtered) this.deps.onFiltered(route.name, reason, events);
    return taken.map(({ event, entity }) => (route.ordered && entity !== undefined ? { eventId: event.eventId, job: { ...event.job, entity } } : event));
  }

  async #expressionFilter(route: Route, candidates: readonly Candidate[], count: (reason: FilterReason) => void): Promise<Candidate[]> {
    const evaluator = this.deps.expressions;
    if (!evaluator) throw new Error(`destination ${route.name} has a FILTER but no evaluator was given`);
    const results = await evaluator.evaluateMany(
      route.name,
      candidates.map(({ event: { job } }) => ({ json: job.body, bindings: { event: job.event, streamId: job.streamId } })),
    );
    return candidates.filter((candidate, index) => {
      const result = results[index];
      if (result?.ok !== true) {
        count('filter_failed');
        this.deps.logger.warn({ destination: route.name, eventId: candidate.event.eventId, failure: result?.code, reason: result?.message }, 'filter.failed');
        return false;
      }
      if (result.value === true) return true;
      count('filter');
      return false;
    });
  }
}

/** An event a route may take, with its STIX id when some route orders by entity. */
interface Candidate {
  event: PendingEvent;
  entity: string | undefined;
}
