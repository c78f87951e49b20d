/**
 * Which destinations a CLI command acts on. The rules sit here, apart from
 * the commands, so that every command answers `--destination` the same way.
 */
import { UsageError, type CommandName } from './args.js';

export interface ChosenDestination {
  name: string;
  /** False for a name given with --destination that the configuration no longer lists. */
  configured: boolean;
}

/**
 * Without --destination, `status` and `failed` cover every configured
 * destination, `replay` the only one (naming one is required once there are
 * several: ids are per queue, and a replay sent to the wrong one would be a
 * surprise), `purge` none (deleting history is done one destination at a
 * time, knowingly). --destination may name a destination the configuration
 * no longer lists: removing it from DESTINATIONS leaves its queue in Redis,
 * to be drained or purged; the caller checks that the queue exists
 * (`unknownDestination` otherwise).
 */
export function chooseDestinations(command: CommandName, requested: string | undefined, configured: readonly string[]): ChosenDestination[] {
  if (requested !== undefined) return [{ name: requested, configured: configured.includes(requested) }];
  if (command === 'purge') throw new UsageError(`purge needs --destination <name>: it deletes one destination's history at a time (configured: ${configured.join(', ')})`);
  if (command === 'replay' && configured.length > 1) {
    throw new UsageError(`replay needs --destination <name> when several destinations are configured (configured: ${configured.join(', ')})`);
  }
  return configured.map((name) => ({ name, configured: true }));
}

/** A --destination that is neither configured nor has a queue in Redis: most likely a typo. */
export function unknownDestination(name: string, configured: readonly string[]): UsageError {
  return new UsageError(
    `unknown destination ${JSON.stringify(name)}: configured destinations are ${configured.join(', ')} (a destination removed from DESTINATIONS can be named while its queue remains in Redis)`,
  );
}

/** Said on stderr, so that --json output stays parseable. */
export function notConfiguredWarning(name: string): string {
  return `warning: destination ${JSON.stringify(name)} is not configured (not in DESTINATIONS): acting on the queue it left in Redis`;
}
