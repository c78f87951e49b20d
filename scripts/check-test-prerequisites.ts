/**
 * `pretest` (and the other suites' pre-steps): the suites start their own redis-server
 * instances (and use redis-cli) and make certificates with openssl, so a missing binary would
 * otherwise surface as dozens of failed tests. One line saying what is missing and how to
 * install it, exit 1.
 */
import '../shared/process/runtime.js'; // first: refuses an unsupported Node.js before the suite starts
import { findOnPath } from '../demo/redis-server.js';

const REQUIRED = [
  { binary: 'redis-server', apt: 'redis-server', brew: 'redis' },
  { binary: 'redis-cli', apt: 'redis-server', brew: 'redis' },
  { binary: 'openssl', apt: 'openssl', brew: 'openssl' },
];

const missing = REQUIRED.filter(({ binary }) => findOnPath(binary) === undefined);
if (missing.length > 0) {
  const names = missing.map(({ binary }) => binary);
  const listed = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  const packages = (manager: 'apt' | 'brew'): string => [...new Set(missing.map((required) => required[manager]))].join(' ');
  console.error(
    `tests: ${listed} not found on the PATH (the tests start their own Redis instances). Install: Debian/Ubuntu: sudo apt-get install ${packages('apt')} · macOS: brew install ${packages('brew')}`,
  );
  process.exit(1);
}
