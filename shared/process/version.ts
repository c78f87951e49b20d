import { createRequire } from 'node:module';

// dist/shared/process/version.js sits three levels below package.json.
const manifest = createRequire(import.meta.url)('../../../package.json') as { name: string; version: string };

export const USER_AGENT = `${manifest.name}/${manifest.version}`;

/** What `--version` prints: `opencti-webhook 1.2.3`. */
export const VERSION_LINE = `${manifest.name} ${manifest.version}`;

/** `--version` or `-v`, anywhere on a command line. */
export function asksForVersion(argv: readonly string[]): boolean {
  return argv.some((arg) => arg === '--version' || arg === '-v');
}

/**
 * The services' `--version`: prints VERSION_LINE and exits 0 before any
 * configuration is read, so it answers on a machine with no settings at all.
 */
export function exitOnVersionFlag(argv: readonly string[] = process.argv.slice(2)): void {
  if (!asksForVersion(argv)) return;
  process.stdout.write(`${VERSION_LINE}\n`);
  process.exit(0);
}
