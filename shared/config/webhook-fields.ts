import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { z } from 'zod';
import { toText, withMeta } from './fields.js';

/**
 * Leaves and cross-field checks of the webhook section that are about
 * security: Standard Webhooks signing secrets, static extra headers,
 * authentication and TLS. Nothing here ever quotes a secret in a message.
 */

/** RFC 9110 token: what an HTTP header name may contain. */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A header value may not contain control characters (CR/LF would split the request). */
export const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]+$/;
/** Printable, no control characters (basic-auth password). */
// eslint-disable-next-line no-control-regex -- control characters are what this rejects
export const PRINTABLE = /^[^\x00-\x1f\x7f]+$/;
/** A basic-auth user-id: printable, without ':' (RFC 7617). */
// eslint-disable-next-line no-control-regex -- control characters are what this rejects
export const BASIC_USERNAME = /^[^\x00-\x1f\x7f:]+$/;

// Headers the dispatcher sets itself, or that belong to the connection or a proxy.
const RESERVED_HEADERS = new Set([
  'content-type',
  'content-length',
  'host',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'expect',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-connection',
]);
const RESERVED_PREFIXES = ['webhook-', 'x-opencti-'];

function isReservedHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return RESERVED_HEADERS.has(lower) || RESERVED_PREFIXES.some((prefix) => lower.startsWith(prefix));
}

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * The HMAC key of a Standard Webhooks secret (`whsec_` + base64 of 24 to 64
 * bytes), or why the text is not one, in words that never quote it.
 */
export function decodeSigningSecret(text: string): Buffer | string {
  if (!text.startsWith(SECRET_PREFIX)) return `does not start with ${SECRET_PREFIX}`;
  const encoded = text.slice(SECRET_PREFIX.length);
  const key = Buffer.from(encoded, 'base64');
  // Buffer ignores what is not base64; a round trip tells.
  if (!BASE64.test(encoded) || key.toString('base64').replace(/=+$/, '') !== encoded.replace(/=+$/, '')) {
    return `is not standard base64 after ${SECRET_PREFIX}`;
  }
  if (key.length < 24 || key.length > 64) return `holds ${key.length} bytes, not 24 to 64`;
  return key;
}

/** Secrets separated by spaces (environment) or a YAML sequence. */
function toSecretList(value: unknown): unknown {
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  return Array.isArray(value) ? value.map(toText) : value;
}

export function signingSecretsField(description: string) {
  const schema = z
    .array(z.string())
    .min(1)
    .superRefine((secrets, context) => {
      const problems = secrets.flatMap((secret, index) => {
        const decoded = decodeSigningSecret(secret);
        if (typeof decoded !== 'string') return [];
        return [`${secrets.length > 1 ? `secret ${index + 1} of ${secrets.length}` : 'the secret'} ${decoded}`];
      });
      if (problems.length > 0) context.addIssue({ code: 'custom', message: `is not valid: ${problems.join('; ')} (each must be ${SECRET_PREFIX} + base64 of 24 to 64 random bytes)` });
    });
  return withMeta(z.preprocess(toSecretList, schema).optional(), {
    description,
    accepted: `one or more space-separated ${SECRET_PREFIX}<base64 of 24 to 64 bytes> secrets, or unset`,
    secret: true,
  });
}

/** A JSON object in the environment, a mapping in config.yml; values become strings. */
function toHeaderMap(value: unknown): unknown {
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      // The parser's message quotes the text, which holds secrets: say nothing of it.
      return value;
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return value;
  return Object.fromEntries(Object.entries(parsed).map(([name, headerValue]) => [name, toText(headerValue)]));
}

export function extraHeadersField(description: string) {
  const schema = z
    .record(z.string(), z.string())
    .superRefine((headers, context) => {
      const problems: string[] = [];
      const seen = new Set<string>();
      for (const [name, value] of Object.entries(headers)) {
        const shown = JSON.stringify(name.slice(0, 60));
        const lower = name.toLowerCase();
        if (!HEADER_NAME.test(name)) problems.push(`${shown} is not a valid header name`);
        else if (isReservedHeader(name)) problems.push(`${shown} is set by the dispatcher itself and cannot be overridden`);
        else if (seen.has(lower)) problems.push(`${shown} is given twice`);
        if (!HEADER_VALUE.test(value)) problems.push(`the value of ${shown} is empty or holds control characters`);
        seen.add(lower);
      }
      if (problems.length > 0) context.addIssue({ code: 'custom', message: `is not valid: ${problems.join('; ')}` });
    })
    .transform((headers) => Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value])));
  return withMeta(z.preprocess(toHeaderMap, schema).optional(), {
    description,
    accepted: 'a JSON object of header names to values (a YAML mapping in config.yml), or unset',
    secret: true,
  });
}

/** The webhook settings the cross-field checks read; values may be raw when their own leaf failed. */
interface WebhookSecurity {
  url?: unknown;
  auth_type?: unknown;
  header?: string | undefined;
  token?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  extra_headers?: Record<string, string> | undefined;
  ssl_verify?: unknown;
  ca_file?: string | undefined;
  client_cert_file?: string | undefined;
  client_key_file?: string | undefined;
  https_only?: unknown;
  format?: unknown;
  template?: string | undefined;
}

/** The header an auth type sends, lower-cased; undefined for NONE. */
function authHeaderName(webhook: Pick<WebhookSecurity, 'auth_type' | 'header'>): string | undefined {
  if (webhook.auth_type === 'TOKEN') return webhook.header?.toLowerCase();
  return webhook.auth_type === 'BEARER' || webhook.auth_type === 'BASIC' || webhook.auth_type === 'SPLUNK' ? 'authorization' : undefined;
}

function clientKeyFits(webhook: WebhookSecurity): boolean {
  if (!webhook.client_cert_file || !webhook.client_key_file) return true;
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(webhook.client_cert_file, 'utf8');
    key = readFileSync(webhook.client_key_file, 'utf8');
  } catch {
    return true; // Reported by the file's own leaf.
  }
  try {
    createSecureContext({ cert, key });
    return true;
  } catch {
    return false;
  }
}

type Check = [key: keyof WebhookSecurity, fails: (webhook: WebhookSecurity) => boolean, message: (prefix: string) => string];

/** `prefix` names the destination's variables: WEBHOOK_ for the default destination, DESTINATION_<NAME>_ for the others. */
const CHECKS: Check[] = [
  ['header', (w) => w.auth_type === 'TOKEN' && !w.header, (p) => `is required when ${p}AUTH_TYPE=TOKEN`],
  ['token', (w) => w.auth_type === 'TOKEN' && !w.token, (p) => `is required when ${p}AUTH_TYPE=TOKEN`],
  ['token', (w) => w.auth_type === 'BEARER' && !w.token, (p) => `is required when ${p}AUTH_TYPE=BEARER`],
  ['token', (w) => w.auth_type === 'SPLUNK' && !w.token, (p) => `is required when ${p}AUTH_TYPE=SPLUNK`],
  ['username', (w) => w.auth_type === 'BASIC' && !w.username, (p) => `is required when ${p}AUTH_TYPE=BASIC`],
  ['password', (w) => w.auth_type === 'BASIC' && !w.password, (p) => `is required when ${p}AUTH_TYPE=BASIC`],
  [
    'extra_headers',
    (w) => {
      const auth = authHeaderName(w);
      return auth !== undefined && typeof w.extra_headers === 'object' && w.extra_headers !== null && auth in w.extra_headers;
    },
    (p) => `repeats the header of ${p}AUTH_TYPE (${p}HEADER, or Authorization for BEARER, BASIC and SPLUNK): remove it from one of them`,
  ],
  ['url', (w) => w.https_only === true && typeof w.url === 'string' && w.url.toLowerCase().startsWith('http:'), (p) => `is http:// while ${p}HTTPS_ONLY=true: use an https:// URL`],
  ['ca_file', (w) => w.ssl_verify === false && Boolean(w.ca_file), (p) => `is set while ${p}SSL_VERIFY=false turns certificate verification off: unset one of them`],
  ['client_key_file', (w) => Boolean(w.client_cert_file) && !w.client_key_file, (p) => `is required when ${p}CLIENT_CERT_FILE is set (both or neither)`],
  ['client_cert_file', (w) => Boolean(w.client_key_file) && !w.client_cert_file, (p) => `is required when ${p}CLIENT_KEY_FILE is set (both or neither)`],
  [
    'client_key_file',
    (w) => !clientKeyFits(w),
    (p) => `is not the private key of the certificate in ${p}CLIENT_CERT_FILE, or is encrypted (keys with a passphrase are not supported)`,
  ],
  ['template', (w) => w.format === 'template' && !w.template, (p) => `is required when ${p}FORMAT=template`],
  ['template', (w) => w.format !== 'template' && Boolean(w.template), (p) => `is only read when ${p}FORMAT=template: unset it or set ${p}FORMAT=template`],
];

/**
 * Adds the webhook's cross-field checks. `when` runs each even when another
 * key is invalid, so one message lists every problem.
 */
export function withWebhookChecks<T extends z.ZodType<WebhookSecurity>>(section: T, prefix = 'WEBHOOK_'): T {
  let checked: z.ZodType<WebhookSecurity> = section;
  for (const [key, fails, message] of CHECKS) {
    checked = checked.refine((webhook) => !fails(webhook), { path: [key], message: message(prefix), when: () => true });
  }
  return checked as T;
}
