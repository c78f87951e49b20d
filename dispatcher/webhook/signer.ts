import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { decodeSigningSecret } from '../../shared/config/webhook-fields.js';

/**
 * Standard Webhooks signatures (symmetric, `v1`): base64 HMAC-SHA256 of
 * `${webhook-id}.${webhook-timestamp}.${body}` with each secret, entries
 * separated by spaces so a receiver accepts either secret during a
 * rotation. The keys are decoded once; a signature is one HMAC per secret
 * over the bytes actually sent.
 */
export class WebhookSigner {
  readonly #keys: KeyObject[];

  /** `secrets` were validated with the configuration (`whsec_` + base64). */
  constructor(secrets: readonly string[]) {
    this.#keys = secrets.map((secret) => {
      const key = decodeSigningSecret(secret);
      if (typeof key === 'string') throw new Error(`invalid signing secret: ${key}`);
      return createSecretKey(key);
    });
  }

  get secretCount(): number {
    return this.#keys.length;
  }

  /** The `webhook-signature` header of one attempt. */
  sign(webhookId: string, timestampSeconds: number, body: Uint8Array | string): string {
    const prefix = `${webhookId}.${timestampSeconds}.`;
    return this.#keys.map((key) => `v1,${createHmac('sha256', key).update(prefix).update(body).digest('base64')}`).join(' ');
  }
}
