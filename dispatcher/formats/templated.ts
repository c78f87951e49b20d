import type { TemplateBindings } from './bindings.js';
import type { FormatName } from '../../shared/config/schema.js';
import { FormatError, NO_HEADERS, type Format, type OutgoingEvent, type TemplateRunner } from './format.js';

/** Longest template error text kept: enough for JSONata's code and message, too short to carry much of an event. */
const MAX_REASON_LENGTH = 300;

/**
 * A format whose body a JSONata template builds (slack, teams, splunk-hec
 * and the user's `template`): the bindings are computed here, the runner
 * evaluates, and anything but a JSON object (or a body above `maxBytes`)
 * fails the event rather than send half a message.
 */
export function templatedFormat(options: {
  name: FormatName;
  source: string;
  runner: TemplateRunner;
  bindings: (event: OutgoingEvent) => TemplateBindings;
  /** Most bytes the receiver takes (Teams: 28 KB); the template cuts texts to stay below. */
  maxBytes?: number;
}): Format {
  const { name, source, runner, bindings, maxBytes } = options;
  return {
    name,
    template: source,
    async format(event) {
      const result = await runner.render(event.body, bindings(event));
      if (!result.ok) {
        if (result.code === 'timeout') throw new FormatError('timeout', `the ${name} template ran out of time`);
        throw new FormatError('error', `the ${name} template failed: ${clip(result.message)}`);
      }
      // The runner's value is JSON text, so an object and only an object starts with "{".
      if (typeof result.value !== 'string' || !result.value.startsWith('{')) {
        throw new FormatError('not-an-object', `the ${name} template produced ${describe(result.value)}, not a JSON object`);
      }
      if (maxBytes !== undefined) {
        const bytes = Buffer.byteLength(result.value);
        if (bytes > maxBytes) throw new FormatError('too-large', `the ${name} template produced ${bytes} bytes, more than the ${maxBytes} the receiver takes`);
      }
      return { body: result.value, headers: NO_HEADERS };
    },
  };
}

function clip(message: string): string {
  return message.length > MAX_REASON_LENGTH ? `${message.slice(0, MAX_REASON_LENGTH)}…` : message;
}

/** The kind of JSON value a template produced, never the value itself. */
function describe(value: unknown): string {
  if (typeof value !== 'string' || value === '') return 'nothing';
  if (value.startsWith('[')) return 'an array';
  if (value.startsWith('"')) return 'a string';
  if (value === 'null') return 'null';
  if (value === 'true' || value === 'false') return 'a boolean';
  return 'a number';
}
