import jsonata from 'jsonata';

/** Placeholder until the evaluator lands: the problem with an expression, or undefined. */
export function checkExpression(source: string): string | undefined {
  try {
    jsonata(source);
    return undefined;
  } catch (error) {
    const { code, position, message } = error as { code?: string; position?: number; message?: string };
    return `is not a valid JSONata expression${position !== undefined ? ` at position ${position}` : ''} (${code ?? 'error'}: ${message ?? 'unknown'})`;
  }
}
