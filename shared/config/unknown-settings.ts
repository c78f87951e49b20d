import type { ConfigSources } from './load.js';

/** A variable with one of the product's prefixes, or a config.yml key, that no setting reads. */
export interface UnknownSetting {
  source: 'env' | 'config.yml';
  name: string;
  suggestion?: string;
}

/** Stub: finds nothing. The real detection arrives with the h-secrets branch. */
export function findUnknownSettings(sources?: ConfigSources): UnknownSetting[] {
  void sources;
  return [];
}
