import { readFileSync } from 'node:fs';
import { rootCertificates, type ConnectionOptions } from 'node:tls';

/** The TLS settings of one kind of connection (OpenCTI, the webhook, Redis), as configured. */
export interface TlsSettings {
  /** Verify the peer's certificate, and that it names the host reached. */
  verify: boolean;
  /** PEM files of CAs to trust in addition to the system roots (only read when verifying). */
  caFiles?: readonly string[];
  /** PEM client certificate (chain) and its unencrypted key, for mutual TLS: both or neither. */
  clientCertFile?: string | undefined;
  clientKeyFile?: string | undefined;
}

/**
 * Node TLS connection options for `settings`. Trusted CA files are added to
 * Node's bundled roots, as NODE_EXTRA_CA_CERTS would be, never put in their
 * place (`ca` alone replaces them): a private CA configured for one endpoint
 * or a proxy's interception leaves public certificates valid.
 * The files were checked when the configuration loaded; they are read here,
 * once per connection setup.
 */
export function tlsConnectionOptions(settings: TlsSettings): ConnectionOptions {
  const caFiles = settings.verify ? (settings.caFiles ?? []) : [];
  const { clientCertFile, clientKeyFile } = settings;
  return {
    rejectUnauthorized: settings.verify,
    ...(caFiles.length > 0 ? { ca: [...rootCertificates, ...caFiles.map((file) => readFileSync(file, 'utf8'))] } : {}),
    ...(clientCertFile && clientKeyFile ? { cert: readFileSync(clientCertFile, 'utf8'), key: readFileSync(clientKeyFile, 'utf8') } : {}),
  };
}
