import { ErrorCode } from '../../shared/errors/codes.js';
import { OwhError } from '../../shared/errors/owh-error.js';
import type { FormatName } from '../../shared/config/schema.js';
import type { ForwardedEvent } from '../../shared/queue/contract.js';

/**
 * What a destination's FORMAT turns an event into, and the contract every
 * format keeps. Adding a format: a module (or a template in templates/) in
 * this folder, one case in build.ts, a section in docs/formats.md, and its
 * name in FORMATS (shared/config/schema.ts, where the setting is validated).
 */

/** One event as the dispatcher is about to send it. */
export interface OutgoingEvent {
  /** The event's webhook-id: stable across attempts, so receivers can dedupe. */
  webhookId: string;
  /** SSE event name. */
  event: ForwardedEvent;
  /** SSE id, `<ms>-<seq>`. */
  streamId: string;
  /** The stream's data exactly as received. */
  body: string;
}

/** What to send: the body (signatures are computed over these bytes) and headers to add (lower-case names). */
export interface FormattedRequest {
  body: string;
  headers: Readonly<Record<string, string>>;
}

export interface Format {
  readonly name: FormatName;
  /** The JSONata source the runner evaluates, for the built-in readable formats and `template`. */
  readonly template?: string;
  /** Throws FormatError when the event cannot be put in this format (the event goes to the failed set). */
  format(event: OutgoingEvent): FormattedRequest | Promise<FormattedRequest>;
}

/**
 * Evaluates one compiled JSONata template against an event, with a hard time
 * limit (JSONata blocks the thread it runs on, so the implementation runs it
 * elsewhere). `json` is the stream's data, which becomes the expression's
 * input; `value` is the JSON text of what the expression produced.
 */
export interface TemplateRunner {
  render(
    json: string,
    bindings: Readonly<Record<string, unknown>>,
  ): Promise<{ ok: true; value: string } | { ok: false; code: 'timeout' | 'error'; message: string }>;
}

/** Why an event could not be formatted; a label for metrics and the failed set. */
export type FormatFailure = 'timeout' | 'error' | 'not-an-object' | 'too-large' | 'not-json';

/**
 * An event this destination's format cannot carry. The message says why and
 * never holds the event body: it is logged and kept in the failed set.
 */
export class FormatError extends OwhError {
  readonly code = ErrorCode.formatFailed;

  constructor(
    readonly reason: FormatFailure,
    message: string,
  ) {
    super(message);
  }
}

/** The headers of formats that add none: one shared object, nothing allocated per event. */
export const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});
