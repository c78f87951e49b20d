import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ErrorCode } from '../../shared/errors/codes.js';
import { OwhError } from '../../shared/errors/owh-error.js';
import type { FormatName } from '../../shared/config/schema.js';
import { checkExpression } from '../../shared/jsonata/check.js';

/**
 * Where the JSONata source of a format comes from, read once at start: the
 * built-in readable formats ship theirs in templates/ (tsc does not copy
 * them to dist/, so they are found from the package root, as
 * shared/process/version.ts finds package.json, and the image copies the
 * folder to the same place); `template` takes the TEMPLATE setting.
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
 * (raw, cloudevents). TEMPLATE arrives read (`@file`) and compiled by the
 * configuration (shared/config/expression-field.ts); a built-in template is
 * read and compiled here, so a broken image fails at start.
 */
export function templateSource(format: FormatName, template?: string): string | undefined {
  if (format === 'template') {
    if (template === undefined) throw new FormatSettingError('FORMAT=template needs TEMPLATE: a JSONata expression, or @/path/to/file');
    return template;
  }
  if (!BUILT_IN_TEMPLATES.has(format)) return undefined;
  const path = `${BUILT_IN_DIR}${format}.jsonata`;
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (error) {
    throw new FormatSettingError(`the ${format} format's template: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
  }
  const problem = checkExpression(source);
  if (problem !== undefined) throw new FormatSettingError(`the ${format} format's template ${path} ${problem}`);
  return source;
}
