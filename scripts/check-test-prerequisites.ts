/**
 * `pretest` (and the other suites' pre-steps): the suites start their own redis-server
 * instances and make certificates with openssl, so a missing binary would otherwise surface
 * as dozens of failed tests. One line saying what is missing and how to install it, exit 1.
 */
import { findOnPath, REDIS_INSTALL_HINT } from '../demo/redis-server.js';

const REQUIRED = [
  { binary: 'redis-server', install: REDIS_INSTALL_HINT },
  { binary: 'redis-cli', install: REDIS_INSTALL_HINT },
  { binary: 'openssl', install: 'Debian/Ubuntu: sudo apt-get install openssl · macOS: brew install openssl' },
];

const missing = REQUIRED.filter(({ binary }) => findOnPath(binary) === undefined);
if (missing.length > 0) {
  const installs = [...new Set(missing.map(({ install }) => install))].join('; ');
  const names = missing.map(({ binary }) => binary);
  const listed = names.length === 1 ? names[0] : `${names.slice(0, -1).join(', ')} and ${names.at(-1)}`;
  console.error(`tests: ${listed} not found on the PATH (the tests start their own Redis instances). Install: ${installs}`);
  process.exit(1);
}
