/**
 * Operator CLI (`npm run cli -- <command>`): look at a connector's queue and
 * act on its dead-lettered events without the board. See USAGE in args.ts.
 */
import '../shared/process/runtime.js'; // first: refuses an unsupported Node.js before any dependency loads
import { runCli } from './run.js';

process.exitCode = await runCli(process.argv.slice(2), {
  config: {},
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
