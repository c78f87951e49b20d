/**
 * Preload that CPU-profiles the process it is loaded into, for Node versions where `--cpu-prof`
 * is refused in NODE_OPTIONS (Node 20): the bench starts the product processes with
 * `NODE_OPTIONS=--import=<this file>` and `BENCH_CPU_PROF_DIR=<dir>`. The profile is written as
 * `<dir>/CPU.<pid>.cpuprofile` (Chrome DevTools format, like --cpu-prof) when the process exits
 * normally (the product exits through process.exit after a SIGTERM).
 */
import { writeFileSync } from 'node:fs';
import { Session, type Profiler } from 'node:inspector';
import { join } from 'node:path';

const dir = process.env.BENCH_CPU_PROF_DIR;
if (dir !== undefined && dir !== '') {
  const session = new Session();
  session.connect();
  session.post('Profiler.enable');
  // --cpu-prof's default sampling interval.
  session.post('Profiler.setSamplingInterval', { interval: 1_000 });
  session.post('Profiler.start');
  process.on('exit', () => {
    // A session connected to its own thread answers synchronously, so this runs before exit.
    session.post('Profiler.stop', (error, result: Profiler.StopReturnType) => {
      if (error === null) writeFileSync(join(dir, `CPU.${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
