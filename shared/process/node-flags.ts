/**
 * The V8 flags every long-running process starts with, wherever it runs: the
 * npm scripts, the images' CMD, the board's command in docker-compose.yml and
 * Kubernetes, and the processes the tests, the bench and the demo spawn
 * (test/unit/node-flags.test.ts keeps them all equal to this list).
 *
 * Node.js 24 sizes V8's young generation from the machine's memory (64 MiB
 * semi-spaces on the 24 GiB bench machine): up to ~190 MiB of young
 * generation per process, most of it garbage between two scavenges. 16 MiB
 * keeps scavenges rare enough that copying the pending packs stays cheap
 * (2 MiB cost the dispatcher 50 % more GC time). Measured:
 * docs/performance.md#memory.
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16'];
