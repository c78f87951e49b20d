/**
 * How far behind an error its causes are followed. undici puts the socket
 * error two or three levels down ("fetch failed" → connect error → TLS
 * error); the bound keeps a cyclic or runaway chain from hanging a log line.
 */
export const MAX_CAUSE_DEPTH = 5;

/**
 * `error` and the errors behind it, outermost first: each one's `cause`, or
 * else, for an AggregateError (one connection attempt per address of a
 * host), its first member. At most MAX_CAUSE_DEPTH steps; a cause that is not
 * an object (a string) ends the chain as its last element.
 */
export function causeChain(error: unknown): unknown[] {
  const chain = [error];
  for (let current = error, depth = 0; depth < MAX_CAUSE_DEPTH; depth += 1) {
    const next = causeOf(current);
    if (next === undefined) break;
    chain.push(next);
    current = next;
  }
  return chain;
}

/** The last Error of `error`'s cause chain: the one that says what went wrong (undici's own message is just "fetch failed"). */
export function innermostError(error: unknown): unknown {
  return causeChain(error).findLast((link) => link instanceof Error) ?? error;
}

function causeOf(error: unknown): unknown {
  if (typeof error !== 'object' || error === null) return undefined;
  const { cause } = error as { cause?: unknown };
  if (cause !== undefined && cause !== null) return cause;
  return error instanceof AggregateError ? error.errors[0] : undefined;
}
