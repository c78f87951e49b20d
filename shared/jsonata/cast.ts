/** Turns an expression's result into what its {@link Output} promises. */
import type { Evaluation, Output } from './protocol.js';

/** A JSONata function value: a native function, or a lambda / built-in wrapper object. */
function isFunction(value: unknown): boolean {
  if (typeof value === 'function') return true;
  if (typeof value !== 'object' || value === null) return false;
  const marks = value as { _jsonata_function?: unknown; _jsonata_lambda?: unknown };
  return marks._jsonata_function === true || marks._jsonata_lambda === true;
}

/** JSONata's effective boolean value (the rules of `$boolean()`), with "no result" as false. */
export function effectiveBoolean(value: unknown): boolean {
  if (Array.isArray(value)) {
    if (value.length === 1) return effectiveBoolean(value[0]);
    return value.some((item) => effectiveBoolean(item));
  }
  if (typeof value === 'string') return value.length > 0;
  if (typeof value === 'number') return value !== 0 && !Number.isNaN(value);
  if (typeof value === 'boolean') return value;
  if (typeof value === 'object' && value !== null && !isFunction(value)) return Object.keys(value).length > 0;
  return false;
}

/** Functions inside a body are left out, as JSON.stringify does for native ones (a lambda is an object). */
function dropFunctions(_key: string, value: unknown): unknown {
  return isFunction(value) ? undefined : value;
}

/** A template's result as a JSON request body: it must be an object or an array. */
function toBody(value: unknown): Evaluation {
  if (value === undefined) return { ok: false, code: 'error', message: 'the expression produced no body' };
  const kind = isFunction(value) ? 'function' : value === null ? 'null' : typeof value;
  if (kind !== 'object') return { ok: false, code: 'error', message: `the expression produced a ${kind}, not an object or array` };
  return { ok: true, value: JSON.stringify(value, dropFunctions) };
}

export function cast(value: unknown, output: Output): Evaluation {
  return output === 'boolean' ? { ok: true, value: effectiveBoolean(value) } : toBody(value);
}
