import { causeChain } from '../errors/causes.js';

/** What a TLS failure means, for a hint an operator can act on. */
export type TlsFailureKind =
  | 'untrusted'
  | 'expired'
  | 'not-yet-valid'
  | 'host-mismatch'
  | 'revoked'
  | 'client-cert-required'
  | 'client-cert-refused'
  | 'not-tls'
  | 'other';

export interface TlsFailure {
  /** The OpenSSL (X509_V_ERR_* name) or Node code, e.g. CERT_HAS_EXPIRED. */
  code: string;
  kind: TlsFailureKind;
  /**
   * Our check of the peer's certificate failed, as opposed to the handshake
   * (the peer refusing our client certificate, a protocol mismatch).
   */
  verification: boolean;
}

// Node's certificate verification codes and the TLS alerts a peer sends, by meaning; other TLS codes are 'other'.
const KINDS: Record<string, TlsFailureKind> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'untrusted',
  UNABLE_TO_GET_ISSUER_CERT: 'untrusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'untrusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'untrusted',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'untrusted',
  CERT_UNTRUSTED: 'untrusted',
  INVALID_CA: 'untrusted',
  CERT_HAS_EXPIRED: 'expired',
  CERT_NOT_YET_VALID: 'not-yet-valid',
  ERR_TLS_CERT_ALTNAME_INVALID: 'host-mismatch',
  HOSTNAME_MISMATCH: 'host-mismatch',
  CERT_REVOKED: 'revoked',
  ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED: 'client-cert-required',
  ERR_SSL_TLSV1_ALERT_UNKNOWN_CA: 'client-cert-refused',
  ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE: 'client-cert-refused',
  ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN: 'client-cert-refused',
  ERR_SSL_TLSV1_ALERT_ACCESS_DENIED: 'client-cert-refused',
  ERR_SSL_WRONG_VERSION_NUMBER: 'not-tls',
};
const VERIFICATION_CODE = /^(?:CERT_\w+|UNABLE_TO_\w+|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|INVALID_CA|HOSTNAME_MISMATCH|ERR_TLS_\w*CERT\w*)$/;
const OTHER_TLS_CODE = /^(?:ERR_SSL_|ERR_TLS_)/;

/**
 * The TLS failure behind `error`, or undefined when it is not one. Clients
 * wrap the socket's error (undici in `cause`, fetch twice), so the first
 * TLS code along the cause chain is the answer.
 */
export function classifyTlsFailure(error: unknown): TlsFailure | undefined {
  for (const link of causeChain(error)) {
    const code = typeof link === 'object' && link !== null ? (link as { code?: unknown }).code : undefined;
    if (typeof code !== 'string') continue;
    const verification = VERIFICATION_CODE.test(code);
    const kind = KINDS[code] ?? (verification || OTHER_TLS_CODE.test(code) ? 'other' : undefined);
    if (kind !== undefined) return { code, kind, verification };
  }
  return undefined;
}
