// One copy, next to the throwaway Redis that needs it too (demo/redis-server.ts).
export { freePort } from '../../demo/free-port.js';
