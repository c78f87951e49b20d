import { z } from 'zod';
import {
  booleanField,
  booleanOrPathField,
  choiceField,
  defaultedTextField,
  integerField,
  optionalDateOrOffField,
  optionalIntegerField,
  optionalListField,
  optionalNumberField,
  optionalPemFileField,
  optionalTextField,
  textField,
  urlField,
} from './fields.js';
import { FORWARDED_EVENTS } from '../queue/contract.js';
import { MARKING_ITEM, MARKING_ITEM_ACCEPTED } from '../opencti/markings.js';
import { optionalExpressionField } from './expression-field.js';
import { RedisSection } from './redis-fields.js';
import { BASIC_USERNAME, HEADER_NAME, HEADER_VALUE, PRINTABLE, extraHeadersField, signingSecretsField, withWebhookChecks } from './webhook-fields.js';

/**
 * The one configuration schema. Sections and keys mirror config.yml of the
 * original connector; the environment variable of a key is
 * `<SECTION>_<KEY>` in upper case (connector.live_stream_id →
 * CONNECTOR_LIVE_STREAM_ID), and the environment wins over the file.
 * Each process picks the sections and keys it uses (see ingester/config.ts and
 * dispatcher/config.ts), so it validates nothing it does not need.
 */

/** Ids end up in URLs and Redis keys; braces would break the Redis Cluster hash tag. */
const SAFE_ID = /^[A-Za-z0-9._-]{1,128}$/;
const SAFE_ID_TEXT = 'letters, digits, ".", "_" or "-" (at most 128)';

export const OpenctiSection = z
  .object({
    url: urlField(['http:', 'https:'], 'URL of the OpenCTI platform.'),
    token: textField('API token of the OpenCTI user the connector reads the live stream as.', {
      rejectPlaceholder: true,
      secret: true,
    }),
    ssl_verify: booleanOrPathField(
      true,
      "Verify OpenCTI's TLS certificate (true/false), or the path of a PEM CA bundle to verify it with (pycti style).",
    ),
    ca_file: optionalTextField("PEM file of the CA certificate(s) that signed OpenCTI's TLS certificate, trusted in addition to the usual ones.", {
      accepted: 'the path of a PEM file',
    }),
  })
  .refine((opencti) => !(opencti.ssl_verify === false && opencti.ca_file), {
    path: ['ca_file'],
    message: 'is set while OPENCTI_SSL_VERIFY=false turns certificate verification off: unset one of them',
    when: () => true,
  });

export const ConnectorSection = z.object({
  id: textField('Unique id of this connector instance (a UUIDv4); also namespaces its Redis keys.', {
    pattern: SAFE_ID,
    accepted: SAFE_ID_TEXT,
    rejectPlaceholder: true,
  }),
  name: textField('Name of the connector; the `name` label of the metrics.', { pattern: /^.{2,}$/s, accepted: 'at least 2 characters' }),
  scope: defaultedTextField('webhook', 'Connector scope sent when registering with OpenCTI; comma-separated.'),
  confidence_level: optionalIntegerField({ min: 0, max: 100 }, 'Kept for compatibility with the original connector (unused).'),
  log_level: choiceField(['debug', 'info', 'warn', 'warning', 'error'], 'info', 'Log verbosity.'),
  // OpenCTI's connector manager sets CONNECTOR_TYPE for every connector it runs; only STREAM fits this one.
  type: choiceField(['STREAM'], 'STREAM', "Connector type, as OpenCTI's connector manager sets it: this connector reads a live stream, so only STREAM."),
  consumer_count: integerField({ min: 1, max: 1000 }, 10, 'Concurrent webhook deliveries per dispatcher process.'),
  live_stream_id: textField('Id of the OpenCTI live stream to read (Data sharing → Live streams), or `live`.', {
    pattern: SAFE_ID,
    accepted: SAFE_ID_TEXT,
    rejectPlaceholder: true,
  }),
  live_stream_start_timestamp: optionalIntegerField(
    { min: 0, max: 8_640_000_000_000_000 },
    'Epoch milliseconds to start from on the very first start (no position stored yet); unset means the beginning of the retained stream.',
  ),
  live_stream_recover_iso_date: optionalDateOrOffField(
    'Recover mode, first start only: objects changed between the start and this date are sent as a snapshot of their current state, then live events follow; unset means "now" (pycti), false turns it off.',
  ),
  live_stream_listen_delete: booleanField(true, 'Receive delete events.'),
  live_stream_no_dependencies: booleanField(true, 'Ask the platform not to send relationship dependencies.'),
  live_stream_with_inferences: booleanField(false, 'Include inferred entities and relationships.'),
  shutdown_timeout_ms: integerField(
    { min: 0, max: 600_000 },
    10_000,
    'On SIGTERM, time allowed to finish in-flight work (deliveries, Redis writes); what is left is redone after the restart.',
  ),
});

/** Request formats of a destination (dispatcher/formats). */
export const FORMATS = ['raw', 'cloudevents', 'slack', 'teams', 'splunk-hec', 'template'] as const;
export type FormatName = (typeof FORMATS)[number];

const WebhookFields = z.object({
  type: choiceField(['URL'], 'URL', 'Webhook integration type (only URL).'),
  url: urlField(['http:', 'https:'], 'Endpoint that receives one POST per event; for WEBHOOK_URL, the `default` destination, required unless DESTINATIONS lists others.'),
  auth_type: choiceField(
    ['NONE', 'TOKEN', 'BEARER', 'BASIC', 'SPLUNK'],
    'NONE',
    'NONE; TOKEN sends `<WEBHOOK_HEADER>: <WEBHOOK_TOKEN>`; BEARER sends `Authorization: Bearer <WEBHOOK_TOKEN>`; BASIC sends WEBHOOK_USERNAME and WEBHOOK_PASSWORD as `Authorization: Basic`; SPLUNK sends `Authorization: Splunk <WEBHOOK_TOKEN>` (Splunk HEC).',
  ),
  header: optionalTextField('Header name carrying the token when WEBHOOK_AUTH_TYPE=TOKEN.', {
    pattern: HEADER_NAME,
    accepted: 'a valid HTTP header name (letters, digits and !#$%&\'*+.^_`|~-)',
  }),
  token: optionalTextField('Token sent in WEBHOOK_HEADER (TOKEN) or as `Authorization: Bearer <token>` (BEARER).', {
    pattern: HEADER_VALUE,
    accepted: 'a valid HTTP header value (no control characters)',
    secret: true,
  }),
  username: optionalTextField('User name of WEBHOOK_AUTH_TYPE=BASIC.', { pattern: BASIC_USERNAME, accepted: 'a user name without ":" or control characters' }),
  password: optionalTextField('Password of WEBHOOK_AUTH_TYPE=BASIC.', { pattern: PRINTABLE, accepted: 'a password without control characters', secret: true }),
  extra_headers: extraHeadersField('Static headers added to every POST (values are treated as secrets: only names are logged).'),
  signing_secret: signingSecretsField(
    'Standard Webhooks signing secret(s), `whsec_` + base64; several, space-separated, sign each request with each (zero-downtime rotation).',
  ),
  ssl_verify: booleanField(true, "Verify the webhook's TLS certificate."),
  ca_file: optionalPemFileField("PEM file of the CA certificate(s) that signed the webhook's certificate, trusted in addition to the usual ones.", 'CERTIFICATE'),
  client_cert_file: optionalPemFileField('PEM client certificate (chain) presented to the webhook (mTLS); needs WEBHOOK_CLIENT_KEY_FILE.', 'CERTIFICATE'),
  client_key_file: optionalPemFileField('PEM private key of WEBHOOK_CLIENT_CERT_FILE (unencrypted).', 'PRIVATE KEY'),
  https_only: booleanField(false, 'Refuse to start with an http:// WEBHOOK_URL.'),
  rate_limit_per_second: optionalNumberField(
    { min: 0.01, max: 100_000 },
    'Most requests per second sent to the webhook by all dispatchers together (retries and probes included); unset means unlimited.',
  ),
  event_types: optionalListField('Only these SSE event names are sent; the others are acknowledged without a request. Unset means all.', {
    choices: FORWARDED_EVENTS,
  }),
  entity_types: optionalListField('Only events whose STIX object has one of these types (the prefix of `data.id`) are sent. Unset means all.', {
    pattern: /^[a-z0-9]+(?:-[a-z0-9]+)*$/,
    accepted: 'STIX types such as indicator, malware, relationship',
  }),
  ordering: choiceField(
    ['none', 'entity'],
    'none',
    'none: events are delivered in parallel, in no particular order (fastest). entity: events about the same STIX object (data.id) are delivered one after the other in stream order, each after the previous got its 2xx or was dead-lettered; different objects still go in parallel. Read by the ingester, which marks each event it queues.',
  ),
  request_timeout_ms: integerField({ min: 100, max: 600_000 }, 30_000, 'Total time allowed for one POST, connection included (Standard Webhooks: 15–30 s).'),
  retry_attempts: integerField({ min: 1, max: 1000 }, 15, 'Attempts per event, the first included, before it moves to the failed set; time spent in an endpoint outage does not count. An event that failed inside a pack (INGESTER_EVENTS_PER_JOB) gets these on top of that first try.'),
  retry_base_delay_ms: integerField({ min: 1, max: 3_600_000 }, 5_000, 'Delay before the first retry; doubles with each attempt (±20 % jitter).'),
  retry_max_delay_ms: integerField({ min: 1, max: 86_400_000 }, 3_600_000, 'Longest delay between two attempts; also caps a Retry-After.'),
  outage_failure_threshold: integerField(
    { min: 1, max: 10_000 },
    10,
    'Consecutive failed attempts (in one dispatcher) after which the endpoint is considered down and delivery pauses for all dispatchers.',
  ),
  probe_initial_delay_ms: integerField({ min: 10, max: 3_600_000 }, 1_000, 'Pause before the first probe of a failing endpoint; doubles after each failed probe.'),
  probe_max_delay_ms: integerField({ min: 10, max: 3_600_000 }, 60_000, 'Longest pause between two probes of a failing endpoint.'),
  markings_exclude: optionalListField(
    'Events whose object carries one of these marking definitions (by name such as TLP:RED, or by id), now or before the update, are acknowledged without a request; see docs/security.md. Unset excludes nothing.',
    { pattern: MARKING_ITEM, accepted: MARKING_ITEM_ACCEPTED },
  ),
  format: choiceField(
    FORMATS,
    'raw',
    'What the request carries (docs/formats.md): raw is the stream event byte for byte; cloudevents adds CloudEvents binary-mode headers; slack, teams and splunk-hec are messages built by the templates in dispatcher/formats/templates; template runs WEBHOOK_TEMPLATE.',
  ),
  template: optionalExpressionField(
    'JSONata expression that builds the body from the event when WEBHOOK_FORMAT=template (docs/formats.md), inline or @/path/to/file.',
  ),
  filter: optionalExpressionField(
    'JSONata expression over the event: only events for which it is true are queued for this destination (docs/templates-and-filters.md), inline or @/path/to/file. Unset sends all.',
  ),
});

export const WebhookSection = withWebhookChecks(WebhookFields);

/**
 * The settings of one destination: the webhook's, read from `<prefix><KEY>`
 * (WEBHOOK_ for `default`, DESTINATION_<NAME>_ for the others), plus its own
 * concurrency. Messages of the cross-field checks name the destination's variables.
 */
export function destinationSchema(prefix: string) {
  return withWebhookChecks(
    WebhookFields.extend({
      consumer_count: optionalIntegerField({ min: 1, max: 1000 }, 'Concurrent deliveries to this destination per dispatcher; unset means CONNECTOR_CONSUMER_COUNT.'),
    }),
    prefix,
  );
}

/**
 * What the ingester reads of each destination: the filters applied before an
 * event is queued for it, and whether its events join their entity's line.
 */
export const DestinationRoutingFields = WebhookFields.pick({ event_types: true, entity_types: true, markings_exclude: true, filter: true, ordering: true });

export const MetricsSection = z.object({
  enable: booleanField(false, 'Serve Prometheus metrics and health checks.'),
  addr: defaultedTextField('0.0.0.0', 'Address the metrics server binds to.'),
  port: integerField({ min: 1, max: 65_535 }, 9113, 'Port of the metrics server.'),
});

export { RedisSection } from './redis-fields.js';

export const IngesterSection = z.object({
  max_queued_events: integerField(
    { min: 100, max: 100_000_000 },
    100_000,
    'Events waiting in the queue above which the ingester stops reading the stream (it resumes below 80 % of this); bounds Redis memory during an outage. Packs count as the events they hold.',
  ),
  events_per_job: integerField(
    { min: 1, max: 100 },
    20,
    'Most events the ingester packs into one queue job: consecutive stream events of a commit of at least this many (a backlog being read; live traffic stays one job per event), never with WEBHOOK_ORDERING=entity. Packing spreads the Redis work of a job over its events; each event is still POSTed alone, and one that fails leaves the pack for a job of its own with its own retries and dead letter. 1 queues every event as its own job.',
  ),
  ping_interval_ms: integerField(
    { min: 100, max: 240_000 },
    40_000,
    'How often the connector pings OpenCTI with its state; OpenCTI shows it alive for 5 minutes after a ping.',
  ),
  lease_ttl_ms: integerField(
    { min: 1_000, max: 60_000 },
    10_000,
    'Lifetime of the leader lease when several ingesters run for one connector: a standby takes over at most this long (plus a tenth) after the leader died; the leader renews it every quarter of it.',
  ),  max_redis_memory_percent: integerField(
    { min: 10, max: 99 },
    90,
    "Share of Redis's maxmemory (when one is set) above which the ingester stops reading the stream, so a commit is never refused for lack of memory; it resumes 10 points below. Read from INFO memory at each queue depth check.",
  ),
});

export const DispatcherSection = z.object({
  lock_duration_ms: integerField(
    { min: 1_000, max: 600_000 },
    10_000,
    "How long a delivery stays claimed without a heartbeat from its dispatcher (renewed every quarter of it; the check for abandoned deliveries runs every quarter of it too): another dispatcher redelivers a crashed one's events at most 1.5 times this after the crash. A dispatcher whose event loop or Redis connection stalls for half of it loses its claims, and the deliveries it had in flight may be repeated.",
  ),
  worker_name: optionalTextField(
    'Name of this dispatcher in Redis (the "processed by" of its jobs, the name of its connection). Keep it the same across restarts and different between replicas: on start, a dispatcher puts back at once the deliveries a dead predecessor of the same name left in flight, provided no live connection carries that name. Unset means the host name (in Docker Compose or Kubernetes, the container or pod name).',
    { pattern: SAFE_ID, accepted: SAFE_ID_TEXT },
  ),
  failed_retention_count: optionalIntegerField(
    { min: 1, max: 100_000_000 },
    'Most dead letters (failed events) kept; when one more fails, the oldest beyond this are deleted for good. Unset keeps them all until an operator replays or discards them.',
  ),
  destinations: optionalListField(
    'Destinations this dispatcher delivers to (names from DESTINATIONS, `default` for the WEBHOOK_* one), so a heavy destination can get replicas of its own; unset means all.',
    { pattern: /^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$/, accepted: 'destination names' },
  ),
  failed_retention_age_ms: optionalIntegerField(
    { min: 1_000, max: 3_153_600_000_000 },
    'Dead letters older than this are deleted for good, checked each time another event fails (whole seconds). Unset keeps them all until an operator replays or discards them.',
  ),
});

/** A basic-auth user-id may not contain ':' (RFC 7617) nor control characters. */
const BASIC_AUTH_USER = /^[\x21-\x39\x3b-\x7e]+$/;
const URL_PATH = /^\/(?:[A-Za-z0-9._~-]+\/?)*$/;
const LOOPBACK = /^(?:127(?:\.\d{1,3}){3}|::1|localhost)$/i;

const BullBoardFields = z.object({
  enable: booleanField(false, 'Serve the bull-board web UI from the dispatcher (the board-only process always serves it).'),
  addr: defaultedTextField('127.0.0.1', 'Address the board binds to; any address other than loopback requires BULL_BOARD_USERNAME and BULL_BOARD_PASSWORD.'),
  port: integerField({ min: 1, max: 65_535 }, 3000, 'Port of the board.'),
  base_path: defaultedTextField('/', 'URL path the board is served under, e.g. /board behind a reverse proxy.', {
    pattern: URL_PATH,
    accepted: 'a URL path starting with "/" (letters, digits, ".", "_", "~", "-" and "/")',
  }),
  username: optionalTextField('Basic-auth user name of the board.', {
    pattern: BASIC_AUTH_USER,
    accepted: 'printable ASCII without spaces or ":"',
  }),
  password: optionalTextField('Basic-auth password of the board.', { secret: true }),
  read_only: booleanField(false, 'Show the board without any action: no retry, remove, clean, pause.'),
});

function isLoopback(addr: string): boolean {
  return LOOPBACK.test(addr);
}

type BoardCredentials = { addr?: string; username?: string; password?: string };

/**
 * Anyone who reaches the board can read every event and retry or delete
 * them, so it listens beyond loopback only with credentials, and credentials
 * come in pairs. `served` tells whether this process serves the board at all.
 * `when` runs the checks even when another key is invalid, so one message
 * lists every problem.
 */
function credentialChecks<T extends z.ZodType<BoardCredentials>>(section: T, served: (board: z.output<T>) => boolean): T {
  const missing = (board: z.output<T>, key: 'username' | 'password'): boolean => {
    if (!served(board) || board[key]) return false;
    const other = key === 'username' ? board.password : board.username;
    return Boolean(other) || !isLoopback(board.addr ?? '127.0.0.1');
  };
  const check = (key: 'username' | 'password') => ({
    path: [key],
    message: `is required when the board listens beyond loopback (BULL_BOARD_ADDR) or BULL_BOARD_${key === 'username' ? 'PASSWORD' : 'USERNAME'} is set: set both BULL_BOARD_USERNAME and BULL_BOARD_PASSWORD`,
    when: () => true,
  });
  return section.refine((board) => !missing(board, 'username'), check('username')).refine((board) => !missing(board, 'password'), check('password'));
}

export const BullBoardSection = credentialChecks(BullBoardFields, (board) => board.enable);

/** For the board-only process: serving the board is its whole job, so BULL_BOARD_ENABLE is not read. */
export const BoardOnlySection = credentialChecks(BullBoardFields.omit({ enable: true }), () => true);

export const ConfigSchema = z.object({
  opencti: OpenctiSection,
  connector: ConnectorSection,
  webhook: WebhookSection,
  metrics: MetricsSection,
  redis: RedisSection,
  ingester: IngesterSection,
  dispatcher: DispatcherSection,
  bull_board: BullBoardSection,
});
