/**
 * Startup check of a user-supplied JSONata expression: compiling is synchronous and cheap
 * (about 0.1 ms), so configuration validation does it in the calling thread and a bad
 * expression stops the process with a clear message instead of failing every event later.
 */
import jsonata from 'jsonata';
import { asJsonataFailure } from './failure.js';

/**
 * The problem with `source` as a JSONata expression, e.g.
 * `is not a valid JSONata expression at position 7 (S0202: Expected ")", got "]")`,
 * or undefined when it compiles. The text names the position rather than quoting the expression,
 * so the caller can prefix it with the setting's name.
 */
export function checkExpression(source: string): string | undefined {
  if (source.trim() === '') return 'is empty, not a JSONata expression';
  try {
    jsonata(source);
    return undefined;
  } catch (thrown) {
    const failure = asJsonataFailure(thrown);
    if (failure === undefined) return 'is not a valid JSONata expression';
    const at = failure.position === undefined ? '' : ` at position ${failure.position}`;
    return `is not a valid JSONata expression${at} (${failure.code}: ${failure.message})`;
  }
}
