/**
 * The V8 flags every long-running process starts with, wherever it runs: the
 * npm scripts, the images' CMD, the board's command in docker-compose.yml and
 * Kubernetes, and the processes the tests, the bench and the demo spawn
 * (test/unit/node-flags.test.ts keeps them all equal to this list).
 *
 * Node.js 24 sizes V8's young generation from the machine's memory: up to
 * 64 MiB per semi-space on this project's 24 GiB bench machine, so each
 * process held ~130 MiB of young generation it never needed (its live
 * objects are a few MiB; what survives a scavenge is tiny). Why 2 MiB, and
 * what it costs: docs/performance.md#memory.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2'];
