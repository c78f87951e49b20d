import type { ErrorCode } from './codes.js';

/**
 * Base of the product's own errors: a readonly stable `code` from the
 * registry (codes.ts), which the logger's `err` serializer writes as
 * `err.code`. Callers tell errors apart by class or by code; the message is
 * for people and may change.
 */
export abstract class OwhError extends Error {
  abstract readonly code: ErrorCode;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

