import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { Webhook } from 'standardwebhooks';
import { WebhookSigner } from '../../dispatcher/webhook/signer.js';
import { decodeSigningSecret } from '../../shared/config/webhook-fields.js';

// Standard Webhooks reference vector (spec 1.0.0, libraries/javascript tests).
const VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

const newSecret = (bytes = 32): string => `whsec_${randomBytes(bytes).toString('base64')}`;
const headers = (id: string, timestamp: number, signature: string) => ({ 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signature });

describe('WebhookSigner', () => {
  it('matches the Standard Webhooks reference vector', () => {
    assert.equal(new WebhookSigner([VECTOR.secret]).sign(VECTOR.id, VECTOR.timestamp, VECTOR.body), VECTOR.signature);
    assert.equal(new WebhookSigner([VECTOR.secret]).sign(VECTOR.id, VECTOR.timestamp, Buffer.from(VECTOR.body)), VECTOR.signature);
  });

  it('is verified by the official standardwebhooks package, over non-ASCII bytes too', () => {
    const secret = newSecret();
    const body = JSON.stringify({ data: { id: 'indicator--1', name: 'Émotet « ☃ »' } });
    const now = Math.floor(Date.now() / 1000);
    const signature = new WebhookSigner([secret]).sign('1700000000000-0-0123456789abcdef', now, Buffer.from(body));
    assert.deepEqual(new Webhook(secret).verify(body, headers('1700000000000-0-0123456789abcdef', now, signature)), JSON.parse(body));
    assert.throws(() => new Webhook(secret).verify(`${body} `, headers('1700000000000-0-0123456789abcdef', now, signature)), /No matching signature/);
    assert.throws(() => new Webhook(newSecret()).verify(body, headers('1700000000000-0-0123456789abcdef', now, signature)), /No matching signature/);
  });

  it('signs with every secret, so either verifies during a rotation', () => {
    const [oldSecret, newOne] = [newSecret(24), newSecret(64)];
    const now = Math.floor(Date.now() / 1000);
    const signature = new WebhookSigner([oldSecret, newOne]).sign('id-1', now, '{}');
    assert.equal(signature.split(' ').length, 2);
    assert.match(signature, /^v1,[A-Za-z0-9+/]+=* v1,[A-Za-z0-9+/]+=*$/);
    for (const secret of [oldSecret, newOne]) assert.doesNotThrow(() => new Webhook(secret).verify('{}', headers('id-1', now, signature)));
  });
});

describe('decodeSigningSecret', () => {
  it('accepts whsec_ + standard base64 of 24 to 64 bytes, padded or not', () => {
    assert.equal((decodeSigningSecret(VECTOR.secret) as Buffer).length, 24);
    assert.equal((decodeSigningSecret(newSecret(64)) as Buffer).length, 64);
    assert.equal((decodeSigningSecret(newSecret(32).replace(/=+$/, '')) as Buffer).length, 32);
  });

  it('says why anything else is refused, without quoting it', () => {
    const cases: Array<[string, RegExp]> = [
      [VECTOR.secret.slice(6), /does not start with whsec_/],
      ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS-', /not standard base64/],
      ['whsec_MfKQ9r8G KYqrTwjUPD8ILPZIo2LaLaSw', /not standard base64/],
      [newSecret(23), /holds 23 bytes, not 24 to 64/],
      [newSecret(65), /holds 65 bytes/],
    ];
    for (const [secret, reason] of cases) {
      const result = decodeSigningSecret(secret);
      assert.equal(typeof result, 'string', secret);
      assert.match(result as string, reason);
      assert.ok(!(result as string).includes(secret.slice(6, 14)), 'the message quotes the secret');
    }
  });
});
