import { z } from 'zod';
import { booleanField, choiceField, optionalPemFileField, optionalTextField, toText, urlField, withMeta } from './fields.js';

/**
 * The `redis` section: where the queue lives (one server, a Redis Cluster, or
 * a master found through Sentinel), with TLS and ACL credentials. The URL
 * alone is enough for one server; the other keys describe what a URL cannot.
 * Cross-field checks name every incoherent pair; none quotes a secret.
 */

const REDIS_MODES = ['standalone', 'cluster', 'sentinel'] as const;

export interface RedisAddress {
  host: string;
  port: number;
}

/** A user name or password in a Redis AUTH: printable, no spaces (ACL rules are space-separated). */
const CREDENTIAL = /^[\x21-\x7e\x80-\uffff]+$/u;
const CREDENTIAL_TEXT = 'printable characters without spaces';
/** A Sentinel master name: what `sentinel monitor` accepts in practice. */
const MASTER_NAME = /^[A-Za-z0-9._-]{1,128}$/;
/** `host:port`, the host a name, an IPv4 address, or an IPv6 address in brackets. */
const ADDRESS = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

function toAddresses(value: unknown): unknown {
  const items = typeof value === 'string' ? value.split(/[\s,]+/).filter(Boolean) : Array.isArray(value) ? value.map(toText) : undefined;
  if (!items || items.some((item) => typeof item !== 'string')) return value;
  const addresses: RedisAddress[] = [];
  for (const item of items as string[]) {
    const match = ADDRESS.exec(item);
    const port = Number(match?.[3]);
    if (!match || port < 1 || port > 65_535) return value;
    addresses.push({ host: match[1] ?? match[2]!, port });
  }
  return addresses;
}

/** A comma-separated list of `host:port` (a YAML sequence in config.yml). */
function optionalAddressListField(description: string) {
  const address = z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65_535) });
  return withMeta(z.preprocess(toAddresses, z.array(address).min(1)).optional(), {
    description,
    accepted: 'a comma-separated list of host:port (an IPv6 address in brackets), or unset',
  });
}

const RedisFields = z.object({
  url: urlField(
    ['redis:', 'rediss:'],
    'Redis holding the queue and the stream position; rediss:// for TLS; user, password and database may be in the URL. Cluster mode: the seed node when REDIS_CLUSTER_NODES is unset. Sentinel mode: only its scheme, credentials and database are used (the master comes from the sentinels).',
    'redis://127.0.0.1:6379',
  ),
  mode: choiceField(REDIS_MODES, 'standalone', 'standalone: one Redis at REDIS_URL; cluster: a Redis Cluster (REDIS_CLUSTER_NODES or REDIS_URL as seed); sentinel: the master REDIS_SENTINEL_MASTER found through REDIS_SENTINELS.'),
  username: optionalTextField('ACL user name for Redis (instead of the user in REDIS_URL).', { pattern: CREDENTIAL, accepted: CREDENTIAL_TEXT }),
  password: optionalTextField('Password for Redis (instead of the password in REDIS_URL).', { pattern: CREDENTIAL, accepted: CREDENTIAL_TEXT, secret: true }),
  tls_ca_file: optionalPemFileField("PEM file of the CA certificate(s) that signed Redis' TLS certificate, trusted in addition to the usual ones.", 'CERTIFICATE'),
  tls_cert_file: optionalPemFileField('PEM client certificate presented to Redis (tls-auth-clients); needs REDIS_TLS_KEY_FILE.', 'CERTIFICATE'),
  tls_key_file: optionalPemFileField('PEM private key of REDIS_TLS_CERT_FILE (unencrypted).', 'PRIVATE KEY'),
  tls_verify: booleanField(true, "Verify Redis' TLS certificate (and that it names the host reached)."),
  cluster_nodes: optionalAddressListField('Cluster mode: some nodes of the Redis Cluster (the others are discovered); unset means the host and port of REDIS_URL.'),
  sentinels: optionalAddressListField('Sentinel mode: the sentinels to ask for the master.'),
  sentinel_master: optionalTextField('Sentinel mode: the name of the master the sentinels monitor.', {
    pattern: MASTER_NAME,
    accepted: 'letters, digits, ".", "_" or "-"',
  }),
  sentinel_username: optionalTextField('Sentinel mode: ACL user name for the sentinels themselves.', { pattern: CREDENTIAL, accepted: CREDENTIAL_TEXT }),
  sentinel_password: optionalTextField('Sentinel mode: password for the sentinels themselves (requirepass of the sentinels).', {
    pattern: CREDENTIAL,
    accepted: CREDENTIAL_TEXT,
    secret: true,
  }),
  sentinel_tls: booleanField(false, 'Sentinel mode: reach the sentinels over TLS too (same REDIS_TLS_* files and verification).'),
});

/** The section's values as the checks see them: raw when their own leaf failed. */
interface RedisValues {
  url?: unknown;
  mode?: unknown;
  username?: string | undefined;
  password?: string | undefined;
  tls_ca_file?: string | undefined;
  tls_cert_file?: string | undefined;
  tls_key_file?: string | undefined;
  tls_verify?: unknown;
  cluster_nodes?: unknown;
  sentinels?: unknown;
  sentinel_master?: string | undefined;
  sentinel_username?: string | undefined;
  sentinel_password?: string | undefined;
  sentinel_tls?: unknown;
}

function parsedUrl(redis: RedisValues): URL | undefined {
  if (typeof redis.url !== 'string') return undefined;
  try {
    return new URL(redis.url);
  } catch {
    return undefined;
  }
}

/** The database a URL selects (`/<n>`), undefined without one, NaN when the path is not a number. */
export function urlDatabase(url: URL): number | undefined {
  const path = url.pathname.replace(/^\//, '');
  if (path === '') return undefined;
  return /^\d{1,5}$/.test(path) ? Number(path) : Number.NaN;
}

/** Is any connection encrypted: the data nodes (rediss://) or the sentinels? */
function usesTls(redis: RedisValues): boolean {
  return parsedUrl(redis)?.protocol === 'rediss:' || (redis.mode === 'sentinel' && redis.sentinel_tls === true);
}

type Check = [key: keyof RedisValues, fails: (redis: RedisValues) => boolean, message: string];

const TLS_OFF = 'is set but no Redis connection uses TLS: use a rediss:// REDIS_URL (or REDIS_SENTINEL_TLS=true in sentinel mode), or unset it';

const CHECKS: Check[] = [
  ['url', (r) => Number.isNaN(urlDatabase(parsedUrl(r) ?? new URL('redis://x'))), 'has a path that is not a database number: use redis://host:port or redis://host:port/<database>'],
  ['url', (r) => r.mode === 'cluster' && (urlDatabase(parsedUrl(r) ?? new URL('redis://x')) ?? 0) !== 0, 'selects a database other than 0, which Redis Cluster does not have (REDIS_MODE=cluster)'],
  ['username', (r) => Boolean(r.username) && Boolean(parsedUrl(r)?.username), 'is set and REDIS_URL holds a user name too: keep one of them'],
  ['password', (r) => Boolean(r.password) && Boolean(parsedUrl(r)?.password), 'is set and REDIS_URL holds a password too: keep one of them'],
  ['cluster_nodes', (r) => r.cluster_nodes !== undefined && r.mode !== 'cluster', 'is set while REDIS_MODE is not cluster: set REDIS_MODE=cluster, or unset it'],
  ['sentinels', (r) => r.mode === 'sentinel' && r.sentinels === undefined, 'is required when REDIS_MODE=sentinel: a comma-separated list of host:port'],
  ['sentinel_master', (r) => r.mode === 'sentinel' && !r.sentinel_master, 'is required when REDIS_MODE=sentinel: the master name the sentinels monitor'],
  ['sentinels', (r) => r.sentinels !== undefined && r.mode !== 'sentinel', 'is set while REDIS_MODE is not sentinel: set REDIS_MODE=sentinel, or unset it'],
  ['sentinel_master', (r) => Boolean(r.sentinel_master) && r.mode !== 'sentinel', 'is set while REDIS_MODE is not sentinel: set REDIS_MODE=sentinel, or unset it'],
  ['sentinel_tls', (r) => r.sentinel_tls === true && r.mode !== 'sentinel', 'is set while REDIS_MODE is not sentinel: set REDIS_MODE=sentinel, or unset it'],
  ['tls_ca_file', (r) => Boolean(r.tls_ca_file) && !usesTls(r), TLS_OFF],
  ['tls_cert_file', (r) => Boolean(r.tls_cert_file) && !usesTls(r), TLS_OFF],
  ['tls_verify', (r) => r.tls_verify === false && !usesTls(r), TLS_OFF],
  ['tls_ca_file', (r) => r.tls_verify === false && Boolean(r.tls_ca_file), 'is set while REDIS_TLS_VERIFY=false turns certificate verification off: unset one of them'],
  ['tls_key_file', (r) => Boolean(r.tls_cert_file) && !r.tls_key_file, 'is required when REDIS_TLS_CERT_FILE is set (both or neither)'],
  ['tls_cert_file', (r) => Boolean(r.tls_key_file) && !r.tls_cert_file, 'is required when REDIS_TLS_KEY_FILE is set (both or neither)'],
];

/** Adds the cross-field checks; `when` runs each even when another key is invalid, so one message lists every problem. */
function withRedisChecks<T extends z.ZodType<RedisValues>>(section: T): T {
  let checked: z.ZodType<RedisValues> = section;
  for (const [key, fails, message] of CHECKS) {
    checked = checked.refine((redis) => !fails(redis), { path: [key], message, when: () => true });
  }
  return checked as T;
}

export const RedisSection = withRedisChecks(RedisFields);
export type RedisSettings = z.infer<typeof RedisSection>;
