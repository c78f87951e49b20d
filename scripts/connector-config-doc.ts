/**
 * __metadata__/CONNECTOR_CONFIG_DOC.md: the catalogue schema as the table
 * OpenCTI-Platform/connectors puts next to every connector's schema (they
 * render it with the jsonschema-markdown Python package, hiding empty
 * columns). Same title, text, columns and cell forms, so the file reads like
 * its neighbours in the catalogue; written by `npm run generate:docs`.
 */
import { fileURLToPath } from 'node:url';
import type { CatalogueProperty, CatalogueSchema } from '../shared/config/json-schema.js';

// Compiled, this file is <repo>/dist/scripts/connector-config-doc.js.
export const CONNECTOR_CONFIG_DOC_PATH = fileURLToPath(new URL('../../__metadata__/CONNECTOR_CONFIG_DOC.md', import.meta.url));

/** Upstream's fixed introduction, word for word. */
const INTRODUCTION =
  'Below is an exhaustive enumeration of all configurable parameters available, each accompanied by detailed explanations of their purposes, default behaviors, and usage guidelines to help you understand and utilize them effectively.';

const FORMATS_LINK = 'https://json-schema.org/understanding-json-schema/reference/string#built-in-formats';

const HEADER = ['| Property | Type | Required | Possible values | Default | Description |', '| -------- | ---- | -------- | --------------- | ------- | ----------- |'];

export function renderConnectorConfigDoc(schema: CatalogueSchema): string {
  const required = new Set(schema.required);
  // Required settings first, each group in the schema's order.
  const names = Object.keys(schema.properties).sort((a, b) => Number(!required.has(a)) - Number(!required.has(b)));
  const rows = names.map((name) => row(name, schema.properties[name] as CatalogueProperty, required.has(name)));
  return ['# Connector Configurations', '', INTRODUCTION, '', `### Type: \`${schema.type}\``, '', ...HEADER, ...rows, ''].join('\n');
}

function row(name: string, property: CatalogueProperty, required: boolean): string {
  const type = property.const !== undefined ? 'const' : property.type;
  const defaultValue = property.default === undefined ? '' : `\`${pythonJson(property.default)}\``;
  const cells = [name, `\`${type}\``, required ? '✅' : '', possibleValues(property), defaultValue, description(property.description)];
  return `| ${cells.join(' | ')} |`;
}

function possibleValues(property: CatalogueProperty): string {
  if (property.enum) return choices(property.enum);
  if (property.items) return property.items.enum ? choices(property.items.enum) : property.items.type;
  if (property.const !== undefined) return `\`${String(property.const)}\``;
  if (property.type === 'integer' || property.type === 'number') return range(property) ?? property.type;
  if (property.type !== 'string') return property.type;
  if (property.format) return `Format: [\`${property.format}\`](${FORMATS_LINK})`;
  const { minLength, maxLength } = property;
  if (minLength && maxLength) return `Length: \`${minLength} <= string <= ${maxLength}\``;
  if (maxLength) return `Length: \`string <= ${maxLength}\``;
  if (minLength) return `Length: \`string >= ${minLength}\``;
  return 'string';
}

function choices(values: readonly unknown[]): string {
  return values.map((value) => `\`${String(value)}\``).join(' ');
}

/** `1 <= x <= 1000`, or one bound: upstream's tool leaves a space where the other would be. */
function range({ minimum, maximum }: CatalogueProperty): string | undefined {
  if (minimum === undefined && maximum === undefined) return undefined;
  return `\`${minimum === undefined ? '' : `${minimum} <=`} x ${maximum === undefined ? '' : `<= ${maximum}`}\``;
}

/** One table cell: line breaks as <br />, and an escaped `|` (which would otherwise end the cell). */
function description(text: string): string {
  return text.trim().replace(/\n/g, '<br />').replace(/\|/g, '\\|');
}

/** A default as Python's json.dumps writes it (", " between items, non-ASCII escaped), as upstream's files show them. */
function pythonJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(pythonJson).join(', ')}]`;
  return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
