/**
 * The GraphQL side of the OpenCTI emulator (POST /graphql), served by the stream emulator's
 * server (see StreamEmulator.platform). Implements what a stream connector uses, after
 * /work/shared/reference/opencti-live-stream.md §6, §7 and §9 item 11:
 *
 * - `about { version }` (pycti's health check);
 * - `registerConnector(input)`: creates or patches the connector, keeps its state, answers with
 *   `connector_state` and a full `config.connection` (pycti reads it);
 * - `pingConnector(id, state, connectorInfo)`: stores `state` verbatim, unless a reset is pending,
 *   in which case it only clears the flag and answers with the stored state ('' after a reset);
 * - `streamCollection(id)` (null when unknown) and `streamCollections`.
 *
 * Errors are HTTP 200 with `errors[0].name` / `message`, like OpenCTI. Authentication: bearer
 * token (`streamCollections` is public). Variables are checked against the platform's input types,
 * unknown fields included, so a payload that differs from pycti's is refused, as the real
 * server would. The operation is recognised from the document (no GraphQL parser).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface StreamCollectionInfo {
  live: boolean;
  public?: boolean;
}

export interface ConnectorRecord {
  id: string;
  name: string;
  type: string;
  scope: string[];
  /** As stored: null before the first ping, '' after a reset. */
  connector_state: string | null;
  connector_state_reset: boolean;
  connector_info: Record<string, unknown> | undefined;
  registrations: number;
  pings: number;
  updatedAt: number;
}

export interface GraphqlRecord {
  readonly operation: string;
  readonly query: string;
  readonly variables: Record<string, unknown>;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly remotePort: number | undefined;
  readonly at: number;
  /** errors[0].name of the answer when it was an error, or the injected fault. */
  error?: string;
}

export interface PlatformApiOptions {
  token: string;
  version?: string;
  /** Looks a stream collection up (the stream emulator's configuration). */
  streams: () => ReadonlyMap<string, StreamCollectionInfo>;
  /** Called after every state change, for waitUntil. */
  notify: () => void;
}

/**
 * What pycti sends (reference §6.2, §6.3), written out independently of the product's code so
 * that tests can compare the two: registerConnector's `input` for a stream connector, and the
 * ConnectorInfo of every ping.
 */
export function pyctiRegisterInput(id: string, name: string, scope: string[]): Record<string, unknown> {
  return {
    id,
    name,
    type: 'STREAM',
    scope,
    auto: false,
    auto_update: false,
    enrichment_resolution: 'none',
    only_contextual: false,
    playbook_compatible: false,
    listen_callback_uri: null,
  };
}

export const PYCTI_CONNECTOR_INFO = {
  run_and_terminate: false,
  buffering: false,
  queue_threshold: 500,
  queue_messages_size: 0,
  next_run_datetime: null,
  last_run_datetime: null,
} as const;

type Fault = { kind: 'status'; status: number } | { kind: 'destroy' };

const CONNECTOR_TYPES = new Set(['EXTERNAL_IMPORT', 'INTERNAL_IMPORT_FILE', 'INTERNAL_ENRICHMENT', 'INTERNAL_ANALYSIS', 'INTERNAL_EXPORT_FILE', 'STREAM']);
const REGISTER_INPUT_FIELDS = new Set(['id', 'name', 'type', 'scope', 'auto', 'auto_update', 'enrichment_resolution', 'only_contextual', 'playbook_compatible', 'listen_callback_uri']);
const CONNECTOR_INFO_FIELDS: Record<string, 'boolean' | 'number' | 'date'> = {
  run_and_terminate: 'boolean',
  buffering: 'boolean',
  queue_threshold: 'number',
  queue_messages_size: 'number',
  next_run_datetime: 'date',
  last_run_datetime: 'date',
};

class GraphqlFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const authRequired = () => new GraphqlFailure('AUTH_REQUIRED', 'You must be logged in to do this.');
const badInput = (message: string) => new GraphqlFailure('BAD_USER_INPUT', message);

export class PlatformApiEmulator {
  readonly requests: GraphqlRecord[] = [];
  readonly connectors = new Map<string, ConnectorRecord>();
  private readonly faults: Fault[] = [];

  constructor(private readonly options: PlatformApiOptions) {}

  /** Requests of one operation (`registerConnector`, `pingConnector`, `streamCollection`, `about`…). */
  requestsFor(operation: string): GraphqlRecord[] {
    return this.requests.filter((r) => r.operation === operation);
  }

  /** A connector that exists before the test, with a state (e.g. written by the Python connector). */
  seedConnector(id: string, state: string | null, name = 'Python webhook'): void {
    this.connectors.set(id, {
      id,
      name,
      type: 'STREAM',
      scope: ['webhook'],
      connector_state: state,
      connector_state_reset: false,
      connector_info: undefined,
      registrations: 0,
      pings: 0,
      updatedAt: Date.now(),
    });
  }

  /** The UI's "reset state" (resetStateConnector): state '' and the reset flag, returned by the next ping. */
  resetState(id: string): void {
    const connector = this.connectors.get(id);
    if (!connector) throw new Error(`no connector ${id}`);
    connector.connector_state = '';
    connector.connector_state_reset = true;
    this.options.notify();
  }

  /** The next `count` GraphQL requests fail: with an HTTP status, or a destroyed socket. */
  failNext(count: number, fault: number | 'destroy' = 503): void {
    for (let i = 0; i < count; i += 1) this.faults.push(fault === 'destroy' ? { kind: 'destroy' } : { kind: 'status', status: fault });
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => this.answer(req, res, Buffer.concat(chunks).toString('utf8')));
  }

  private answer(req: IncomingMessage, res: ServerResponse, text: string): void {
    let body: { query?: unknown; variables?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // Recorded with an empty operation; answered below.
    }
    const query = typeof body.query === 'string' ? body.query : '';
    const variables = typeof body.variables === 'object' && body.variables !== null ? (body.variables as Record<string, unknown>) : {};
    const record: GraphqlRecord = {
      operation: operationOf(query),
      query,
      variables,
      headers: { ...req.headers },
      remotePort: req.socket.remotePort,
      at: Date.now(),
    };
    this.requests.push(record);
    const fault = this.faults.shift();
    if (fault) {
      record.error = fault.kind === 'destroy' ? 'socket destroyed' : `HTTP ${fault.status}`;
      if (fault.kind === 'destroy') res.socket?.destroy();
      else res.writeHead(fault.status, { 'content-type': 'text/plain' }).end('emulated failure\n');
      this.options.notify();
      return;
    }
    if (query === '') {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"errors":[{"message":"POST body missing, invalid Content-Type, or JSON object has no keys."}]}');
      return;
    }
    let payload: unknown;
    try {
      payload = { data: { [record.operation]: this.execute(record.operation, variables, this.authenticated(req)) } };
    } catch (error) {
      if (!(error instanceof GraphqlFailure)) throw error;
      record.error = error.code;
      payload = { errors: [{ message: error.message, name: error.code, extensions: { code: error.code } }], data: null };
    }
    const json = JSON.stringify(payload);
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) }).end(json);
    this.options.notify();
  }

  private authenticated(req: IncomingMessage): boolean {
    const match = /^Bearer\s+(.+)$/i.exec(String(req.headers.authorization ?? '').trim());
    return match !== null && match[1] === this.options.token;
  }

  private execute(operation: string, variables: Record<string, unknown>, authenticated: boolean): unknown {
    if (operation === 'streamCollections') return this.collections(authenticated);
    if (!authenticated) throw authRequired();
    switch (operation) {
      case 'about':
        return { version: this.options.version ?? '6.9.17' };
      case 'registerConnector':
        return this.register(variables.input);
      case 'pingConnector':
        return this.ping(variables);
      case 'streamCollection': {
        if (typeof variables.id !== 'string') throw badInput('Variable "$id" of required type "String!" was not provided.');
        const stream = this.options.streams().get(variables.id);
        return stream ? collection(variables.id, stream) : null;
      }
      default:
        throw new GraphqlFailure('GRAPHQL_VALIDATION_FAILED', `The emulator does not implement this operation (${operation || 'none found'})`);
    }
  }

  private register(input: unknown): Record<string, unknown> {
    if (typeof input !== 'object' || input === null) throw badInput('Variable "$input" must be a RegisterConnectorInput');
    const fields = input as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      if (!REGISTER_INPUT_FIELDS.has(key)) throw badInput(`Field "${key}" is not defined by type "RegisterConnectorInput".`);
    }
    const { id, name, type, scope } = fields;
    if (typeof id !== 'string' || id === '') throw badInput('Field "id" of required type "ID!" was not provided.');
    if (typeof name !== 'string' || name.length < 2) throw badInput('Field "name" must be a string of at least 2 characters.');
    if (typeof type !== 'string' || !CONNECTOR_TYPES.has(type)) throw badInput(`Value "${String(type)}" does not exist in "ConnectorType" enum.`);
    if (scope !== undefined && scope !== null && !(Array.isArray(scope) && scope.every((s) => typeof s === 'string'))) throw badInput('Field "scope" must be [String!].');
    const existing = this.connectors.get(id);
    const connector: ConnectorRecord = existing ?? {
      id,
      name,
      type,
      scope: [],
      connector_state: null,
      connector_state_reset: false,
      connector_info: undefined,
      registrations: 0,
      pings: 0,
      updatedAt: Date.now(),
    };
    // An existing connector is patched; its state is left untouched (§6.2).
    Object.assign(connector, { name, type, scope: (scope) ?? [], updatedAt: Date.now() });
    connector.registrations += 1;
    this.connectors.set(id, connector);
    return {
      id,
      connector_state: connector.connector_state,
      config: {
        connection: { host: 'rabbitmq', vhost: '/', use_ssl: false, port: 5672, user: 'opencti', pass: 'changeme' },
        listen: `listen_${id}`,
        listen_routing: `listen_routing_${id}`,
        listen_exchange: 'amqp.connector.exchange',
        push: `push_${id}`,
        push_routing: `push_routing_${id}`,
        push_exchange: 'amqp.worker.exchange',
      },
      connector_user_id: '88ec0c6a-13ce-5e39-b486-354fe4a7084f',
    };
  }

  private ping(variables: Record<string, unknown>): Record<string, unknown> {
    const { id, state, connectorInfo } = variables;
    if (typeof id !== 'string') throw badInput('Variable "$id" of required type "ID!" was not provided.');
    if (state !== undefined && state !== null && typeof state !== 'string') throw badInput('Variable "$state" must be a String.');
    checkConnectorInfo(connectorInfo);
    const connector = this.connectors.get(id);
    if (!connector) throw new GraphqlFailure('FUNCTIONAL_ERROR', 'No connector found with the specified ID');
    connector.pings += 1;
    if (connector.connector_state_reset) {
      connector.connector_state_reset = false;
    } else {
      connector.connector_state = (state) ?? null;
      connector.updatedAt = Date.now();
      connector.connector_info = connectorInfo as Record<string, unknown> | undefined;
    }
    return { id, connector_state: connector.connector_state, connector_info: connector.connector_info ?? null };
  }

  private collections(authenticated: boolean): Record<string, unknown> {
    const edges = [...this.options.streams()]
      .filter(([, stream]) => authenticated || stream.public === true)
      .map(([id, stream]) => ({ node: { ...collection(id, stream), filters: '{"mode":"and","filters":[],"filterGroups":[]}', authorized_members: null } }));
    return { edges };
  }
}

function collection(id: string, stream: StreamCollectionInfo): Record<string, unknown> {
  return { id, name: `Stream ${id}`, description: null, stream_live: stream.live, stream_public: stream.public === true };
}

function checkConnectorInfo(info: unknown): void {
  if (info === undefined || info === null) return;
  if (typeof info !== 'object') throw badInput('Variable "$connectorInfo" must be a ConnectorInfoInput.');
  const fields = info as Record<string, unknown>;
  for (const [key, value] of Object.entries(fields)) {
    const kind = CONNECTOR_INFO_FIELDS[key];
    if (!kind) throw badInput(`Field "${key}" is not defined by type "ConnectorInfoInput".`);
    const ok = kind === 'date' ? value === null || typeof value === 'string' : typeof value === kind;
    if (!ok) throw badInput(`Field "${key}" of ConnectorInfoInput has the wrong type.`);
  }
  for (const [key, kind] of Object.entries(CONNECTOR_INFO_FIELDS)) {
    if (kind !== 'date' && !(key in fields)) throw badInput(`Field "${key}" of required type "${kind === 'boolean' ? 'Boolean!' : 'Float!'}" was not provided.`);
  }
}

/** The root field the document selects (the operations a connector uses). */
function operationOf(query: string): string {
  for (const field of ['registerConnector', 'pingConnector', 'streamCollections', 'streamCollection', 'about']) {
    if (new RegExp(`\\b${field}\\b\\s*[({]`).test(query)) return field;
  }
  return '';
}
