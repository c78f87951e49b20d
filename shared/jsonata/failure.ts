/**
 * Plain-text descriptions of what JSONata throws. JSONata throws plain objects
 * `{code, position, token, message}` (not Error instances) that also carry a JS `stack` and the
 * offending `value`; only the code, JSONata's own message and the position are kept, cut to a
 * length that fits a log line, so no stack and no more of the input than JSONata quotes leaves.
 */

/** Longest message kept from a failure; JSONata's messages can quote input values. */
const MAX_MESSAGE = 200;

interface JsonataFailure {
  code: string;
  message: string;
  position: number | undefined;
}

/** The JSONata fields of `thrown`, or undefined when it is not a JSONata error. */
export function asJsonataFailure(thrown: unknown): JsonataFailure | undefined {
  if (typeof thrown !== 'object' || thrown === null) return undefined;
  const { code, message, position } = thrown as Record<string, unknown>;
  if (typeof code !== 'string') return undefined;
  return {
    code,
    message: typeof message === 'string' ? cut(message) : 'no message',
    position: typeof position === 'number' ? position : undefined,
  };
}

/** `T2002: <JSONata's message> (at position 3)`, or `RangeError: …` for what the JS engine throws. */
export function describeFailure(thrown: unknown): string {
  const failure = asJsonataFailure(thrown);
  if (failure !== undefined) {
    const at = failure.position === undefined ? '' : ` (at position ${failure.position})`;
    return `${failure.code}: ${failure.message}${at}`;
  }
  if (thrown instanceof Error) return cut(`${thrown.name}: ${thrown.message}`);
  return 'the evaluation failed';
}

function cut(text: string): string {
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text;
}
