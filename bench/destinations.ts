/**
 * The destinations a scenario configures, all pointing at the one lean receiver under a path of
 * their own (/d1, /d2, …), so the receiver tells their deliveries apart. The first is `default`
 * (the WEBHOOK_* settings, queue `events`), as in every single-webhook deployment; the others are
 * d2, d3, … (DESTINATIONS, DESTINATION_D2_*, queues `events-d2`, …).
 */
import { DEFAULT_DESTINATION, destinationKeys } from '../shared/queue/contract.js';

export interface BenchDestination {
  /** Destination name in the product's configuration. */
  name: string;
  /** The receiver path its requests go to. */
  path: string;
  /** Settings of its own beyond the URL, without the WEBHOOK_ / DESTINATION_<NAME>_ prefix (e.g. FILTER). */
  settings: Record<string, string>;
}

/** `count` destinations that take every event: default at /d1, then d2 at /d2, … */
export function benchDestinations(count: number): BenchDestination[] {
  return Array.from({ length: count }, (_, i) => ({ name: i === 0 ? DEFAULT_DESTINATION : `d${i + 1}`, path: `/d${i + 1}`, settings: {} }));
}

function variablePrefix(name: string): string {
  return name === DEFAULT_DESTINATION ? 'WEBHOOK_' : `DESTINATION_${name.toUpperCase()}_`;
}

/** The product environment that configures `destinations` against the receiver at `urlFor(path)`. */
export function destinationEnv(destinations: readonly BenchDestination[], urlFor: (path: string) => string): Record<string, string> {
  const env: Record<string, string> = {};
  const others = destinations.filter((d) => d.name !== DEFAULT_DESTINATION).map((d) => d.name);
  if (others.length > 0) env.DESTINATIONS = others.join(',');
  for (const destination of destinations) {
    const prefix = variablePrefix(destination.name);
    env[`${prefix}URL`] = urlFor(destination.path);
    for (const [key, value] of Object.entries(destination.settings)) env[`${prefix}${key}`] = value;
  }
  return env;
}

/** BullMQ queue name of a destination (see shared/queue/contract.ts). */
export function queueNameOf(connectorId: string, destination: string): string {
  return destinationKeys(connectorId, destination).queueName;
}
