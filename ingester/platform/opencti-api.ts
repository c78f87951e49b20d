import { request, type Dispatcher } from 'undici';
import { ErrorCode } from '../../shared/errors/codes.js';
import { OwhError } from '../../shared/errors/owh-error.js';
import type { Logger } from '../../shared/observability/logger.js';
import { networkErrorFields, TLS_HINT, tlsVerifyFailure } from './http.js';

/**
 * The few GraphQL operations the connector needs, with pycti's exact
 * documents and variables (reference §6, §7), so the platform cannot tell
 * this connector from the Python one.
 */
const REGISTER_CONNECTOR = `
    mutation RegisterConnector($input: RegisterConnectorInput) {
        registerConnector(input: $input) {
            id
            connector_state
            config {
                connection {
                    host
                    vhost
                    use_ssl
                    port
                    user
                    pass
                }
                listen
                listen_routing
                listen_exchange
                push
                push_routing
                push_exchange
            }
            connector_user_id
        }
    }
`;

const PING_CONNECTOR = `
    mutation PingConnector($id: ID!, $state: String, $connectorInfo: ConnectorInfoInput ) {
        pingConnector(id: $id, state: $state, connectorInfo: $connectorInfo) {
            id
            connector_state
            connector_info {
                run_and_terminate
                buffering
                queue_threshold
                queue_messages_size
                next_run_datetime
                last_run_datetime
            }
        }
    }
`;

const STREAM_COLLECTION = `
    query StreamCollection($id: String!) {
        streamCollection(id: $id) {
            id
            name
            description
            stream_live
            stream_public
        }
    }
`;

const ABOUT = `
    query healthCheck {
        about {
            version
        }
    }
`;

/** pycti's ConnectorInfo for a stream connector: constant. */
const CONNECTOR_INFO = {
  run_and_terminate: false,
  buffering: false,
  queue_threshold: 500.0,
  queue_messages_size: 0.0,
  next_run_datetime: null,
  last_run_datetime: null,
};

export interface ConnectorIdentity {
  id: string;
  name: string;
  /** CONNECTOR_SCOPE split on commas. */
  scope: string[];
}

export interface StreamCollection {
  id: string;
  name: string;
  description: string | null;
  stream_live: boolean;
  stream_public: boolean;
}

/**
 * OpenCTI names a connector it does not know only in words (a
 * FUNCTIONAL_ERROR, like many others): the answer is read here, once, and
 * becomes a code.
 */
const CONNECTOR_MISSING = /no connector found/i;

/** The platform answered HTTP 200 with `errors[]` (how OpenCTI reports every failure, auth included). */
export class GraphqlError extends OwhError {
  readonly code: typeof ErrorCode.platformRejected | typeof ErrorCode.platformConnectorMissing;

  constructor(
    /** `errors[0].name`, e.g. AUTH_REQUIRED, FORBIDDEN_ACCESS, FUNCTIONAL_ERROR. */
    readonly platformCode: string,
    message: string,
  ) {
    super(message);
    this.code = CONNECTOR_MISSING.test(message) ? ErrorCode.platformConnectorMissing : ErrorCode.platformRejected;
  }

  /** The token is not valid (no user behind it). */
  get unauthenticated(): boolean {
    return this.platformCode === 'AUTH_REQUIRED';
  }
}

/** The platform (or something in front of it) answered with a status other than 200. */
export class PlatformHttpError extends OwhError {
  readonly code = ErrorCode.platformHttp;
  constructor(
    readonly status: number,
    detail = '',
  ) {
    super(`OpenCTI answered HTTP ${status} to a GraphQL request${detail}`);
  }
}

export interface OpenctiApiOptions {
  /** OPENCTI_URL */
  url: string;
  token: string;
  dispatcher: Dispatcher;
  userAgent: string;
  /** Deadline of one GraphQL call (pycti: 300 s). @defaultValue 30000 */
  timeoutMs?: number;
}

/** POST `${OPENCTI_URL}/graphql` with the bearer token; errors as GraphqlError / PlatformHttpError / network errors. */
export class OpenctiApi {
  readonly #endpoint: string;

  constructor(private readonly options: OpenctiApiOptions) {
    this.#endpoint = `${options.url.replace(/\/+$/, '')}/graphql`;
  }

  async about(signal?: AbortSignal): Promise<{ version: string }> {
    return (await this.#query<{ about: { version: string } }>(ABOUT, {}, signal)).about;
  }

  async registerConnector(connector: ConnectorIdentity, signal?: AbortSignal): Promise<{ id: string; connector_state: string | null }> {
    const input = {
      id: connector.id,
      name: connector.name,
      type: 'STREAM',
      scope: connector.scope,
      auto: false,
      auto_update: false,
      enrichment_resolution: 'none',
      only_contextual: false,
      playbook_compatible: false,
      listen_callback_uri: null,
    };
    const data = await this.#query<{ registerConnector: { id: string; connector_state: string | null } | null }>(REGISTER_CONNECTOR, { input }, signal);
    if (!data.registerConnector) throw new GraphqlError('EMPTY_RESULT', 'registerConnector returned null');
    return data.registerConnector;
  }

  /** Sends `state` (a pycti state string); resolves with the state the platform holds afterwards. */
  async pingConnector(id: string, state: string, signal?: AbortSignal): Promise<{ connector_state: string | null }> {
    const data = await this.#query<{ pingConnector: { connector_state: string | null } | null }>(
      PING_CONNECTOR,
      { id, state, connectorInfo: CONNECTOR_INFO },
      signal,
    );
    if (!data.pingConnector) throw new GraphqlError('EMPTY_RESULT', 'pingConnector returned null');
    return data.pingConnector;
  }

  /** null when no such collection exists or the token's user cannot see it. */
  async streamCollection(id: string, signal?: AbortSignal): Promise<StreamCollection | null> {
    return (await this.#query<{ streamCollection: StreamCollection | null }>(STREAM_COLLECTION, { id }, signal)).streamCollection;
  }

  async #query<T>(query: string, variables: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
    const deadline = AbortSignal.timeout(this.options.timeoutMs ?? 30_000);
    const response = await request(this.#endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        authorization: `Bearer ${this.options.token}`,
        'user-agent': this.options.userAgent,
      },
      body: JSON.stringify({ query, variables }),
      dispatcher: this.options.dispatcher,
      signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
    });
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new PlatformHttpError(response.statusCode);
    }
    let body: { data?: T | null; errors?: Array<{ name?: string; message?: string; extensions?: { code?: string } }> };
    try {
      body = (await response.body.json()) as typeof body;
    } catch {
      throw new PlatformHttpError(200, ' whose body is not JSON (is OPENCTI_URL the platform, not a page in front of it?)');
    }
    const [first] = body.errors ?? [];
    if (first) throw new GraphqlError(first.name ?? first.extensions?.code ?? 'UNKNOWN', String(first.message ?? 'unknown error').slice(0, 500));
    if (!body.data) throw new GraphqlError('EMPTY_RESULT', 'the answer has neither data nor errors');
    return body.data;
  }
}

/**
 * Log fields for a failed platform call, and whether it was the TLS
 * certificate (then the message must say which variable to change).
 */
function platformFailure(error: unknown): { fields: Record<string, unknown>; tlsError?: string } {
  if (error instanceof GraphqlError) return { fields: { code: error.platformCode, platformMessage: error.message } };
  if (error instanceof PlatformHttpError) return { fields: { status: error.status, error: error.message } };
  const tlsError = tlsVerifyFailure(error);
  const fields = { err: networkErrorFields(error), ...(tlsError ? { tlsError } : {}) };
  return tlsError ? { fields, tlsError } : { fields };
}

/** Logs a platform call that failed for a reason other than the platform's answer: TLS (error, with the fix) or unreachable (warn). */
export function logPlatformFailure(logger: Logger, event: string, error: unknown, extra: Record<string, unknown> = {}): void {
  const { fields, tlsError } = platformFailure(error);
  if (tlsError) logger.error({ ...fields, ...extra, hint: TLS_HINT }, event);
  else logger.warn({ ...fields, ...extra }, event);
}
