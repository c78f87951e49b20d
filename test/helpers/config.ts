import { loadDispatcherConfig } from '../../dispatcher/config.js';
import { loadIngesterConfig } from '../../ingester/config.js';
import type { ConfigSources } from '../../shared/config/load.js';

function withDefault<C extends { destinations: ReadonlyArray<{ name: string; settings: unknown }> }>(config: C): C & { webhook: C['destinations'][number]['settings'] } {
  const destination = config.destinations.find(({ name }) => name === 'default');
  if (!destination) throw new Error('no default destination (WEBHOOK_URL unset while DESTINATIONS is set)');
  return Object.freeze({ ...config, webhook: destination.settings });
}

/** The dispatcher's configuration, with the `default` destination's settings as `webhook` (the single-webhook setup). */
export function dispatcherConfig(sources: ConfigSources) {
  return withDefault(loadDispatcherConfig(sources));
}

/** The ingester's configuration, with the `default` destination's routing settings as `webhook`. */
export function ingesterConfig(sources: ConfigSources) {
  return withDefault(loadIngesterConfig(sources));
}
