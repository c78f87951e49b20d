/**
 * A TemplateRunner for tests: jsonata in this thread, with its own
 * `timeout` guardrail (which a blocking regex escapes; the product's runner
 * uses worker threads). Same contract: `json` is parsed and becomes the
 * input, `value` is the JSON text of the result.
 */
import jsonata from 'jsonata';
import type { TemplateRunner } from '../../dispatcher/formats/format.js';

/** JSONata's code for an evaluation that outlived `timeout`. */
const TIMED_OUT = 'D1012';

export function jsonataRunner(source: string, options: { timeoutMs?: number } = {}): TemplateRunner {
  const expression = jsonata(source, { timeout: options.timeoutMs ?? 1_000 });
  return {
    async render(json, bindings) {
      try {
        const result: unknown = await expression.evaluate(JSON.parse(json), bindings);
        return { ok: true, value: JSON.stringify(result) ?? '' };
      } catch (error) {
        // JSONata throws plain objects, not Errors.
        const { code, message } = error as { code?: string; message?: string };
        return { ok: false, code: code === TIMED_OUT ? 'timeout' : 'error', message: `${code ?? ''} ${message ?? String(error)}`.trim() };
      }
    },
  };
}
