import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import jsonata from 'jsonata';
import { ErrorCode } from '../../shared/errors/codes.js';
import { OwhError } from '../../shared/errors/owh-error.js';
import type { FormatName } from './format.js';

/**
 * Where the JSONata source of a format comes from, read once at start: the
 * built-in readable formats ship theirs in templates/ (tsc does not copy
 * them to dist/, so they are found from the package root, as
 * shared/process/version.ts finds package.json, and the image copies the
 * folder to the same place); `template` takes the TEMPLATE setting, inline
 * or `@/path/to/file`.
 */

// dist/dispatcher/formats/templates.js sits three levels below the package root.
const BUILT_IN_DIR = fileURLToPath(new URL('../../../dispatcher/formats/templates/', import.meta.url));

/** A format whose settings cannot work: the process does not start. */
export class FormatSettingError extends OwhError {
  readonly code = ErrorCode.config;
}

/** The built-in formats that are JSONata templates. */
const BUILT_IN_TEMPLATES: ReadonlySet<FormatName> = new Set(['slack', 'teams', 'splunk-hec']);

/**
 * The JSONata source `format` runs, undefined for the formats that run none
 * (raw, cloudevents). Throws FormatSettingError for a template that is
 * missing, unreadable or not valid JSONata.
 */
export function templateSource(format: FormatName, template?: string): string | undefined {
  if (format === 'template') return checked(userTemplate(template), 'TEMPLATE');
  if (template !== undefined) throw new FormatSettingError(`TEMPLATE is set, but FORMAT is ${format}: set FORMAT=template to use it`);
  if (!BUILT_IN_TEMPLATES.has(format)) return undefined;
  const path = `${BUILT_IN_DIR}${format}.jsonata`;
  return checked(readTemplate(path, `the ${format} format's template`), path);
}

function userTemplate(template: string | undefined): string {
  if (template === undefined || template.trim() === '') throw new FormatSettingError('FORMAT=template needs TEMPLATE: a JSONata expression, or @/path/to/file');
  return template.startsWith('@') ? readTemplate(template.slice(1), 'TEMPLATE') : template;
}

function readTemplate(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new FormatSettingError(`${what}: cannot read ${path} (${code})`);
  }
}

/** Compiles once to refuse at start what would fail on every event. */
function checked(source: string, where: string): string {
  try {
    jsonata(source);
  } catch (error) {
    const { code, position, message } = error as { code?: string; position?: number; message?: string };
    throw new FormatSettingError(`${where} is not a valid JSONata expression: ${code ?? ''} at ${position ?? '?'}: ${message ?? String(error)}`);
  }
  return source;
}
