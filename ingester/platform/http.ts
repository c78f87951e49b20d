import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';
import { EnvHttpProxyAgent, type Dispatcher } from 'undici';
import { ConfigError } from '../../shared/config/load.js';
import { redactUrl } from '../../shared/observability/redact.js';

/** The TLS settings of every connection to OpenCTI (stream and GraphQL). */
export interface PlatformTls {
  rejectUnauthorized: boolean;
  /** Trusted CAs when a private CA is configured: Node's bundled ones plus it. */
  ca?: string[];
}

export interface PlatformTlsSettings {
  /** OPENCTI_SSL_VERIFY: a boolean, or the path of a CA bundle (pycti). */
  ssl_verify: boolean | string;
  /** OPENCTI_CA_FILE */
  ca_file?: string | undefined;
}

/**
 * Reads the CA bundles named by OPENCTI_SSL_VERIFY (when it is a path) and
 * OPENCTI_CA_FILE. A file that cannot be read, or holds no certificate, is a
 * configuration error naming its variable.
 */
export function platformTls(settings: PlatformTlsSettings): PlatformTls {
  if (settings.ssl_verify === false) return { rejectUnauthorized: false };
  const sources = [
    typeof settings.ssl_verify === 'string' ? { variable: 'OPENCTI_SSL_VERIFY', key: 'opencti.ssl_verify', path: settings.ssl_verify } : undefined,
    settings.ca_file ? { variable: 'OPENCTI_CA_FILE', key: 'opencti.ca_file', path: settings.ca_file } : undefined,
  ].filter((source) => source !== undefined);
  if (sources.length === 0) return { rejectUnauthorized: true };
  const problems: ConfigError['problems'] = [];
  const bundles: string[] = [];
  for (const { variable, key, path } of sources) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code ?? 'unreadable';
      problems.push({ variable, key, message: `names a CA bundle that cannot be read: ${JSON.stringify(path)} (${reason})` });
      continue;
    }
    if (!text.includes('-----BEGIN CERTIFICATE-----')) {
      problems.push({ variable, key, message: `names a file that holds no PEM certificate: ${JSON.stringify(path)}` });
      continue;
    }
    bundles.push(text);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { rejectUnauthorized: true, ca: [...rootCertificates, ...bundles] };
}

/**
 * The one undici dispatcher for every request to OpenCTI: TLS as configured,
 * and HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case) honoured like
 * python-requests does for pycti. No body or header timeout: the stream is
 * idle between frames (its watchdog is the stream client's), and GraphQL
 * calls carry their own deadline.
 */
export function createPlatformDispatcher(tls: PlatformTls): Dispatcher {
  return new EnvHttpProxyAgent({ bodyTimeout: 0, headersTimeout: 0, connect: tls, requestTls: tls });
}

/** Environment variables read outside the configuration schema (by undici's EnvHttpProxyAgent), in either case. */
export const PROXY_VARIABLES = ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY'] as const;

/** The proxy in use for `url` as configured in the environment, for the startup log (never its credentials). */
export function configuredProxy(url: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const https = new URL(url).protocol === 'https:';
  const proxy = https ? (env.https_proxy ?? env.HTTPS_PROXY ?? env.http_proxy ?? env.HTTP_PROXY) : (env.http_proxy ?? env.HTTP_PROXY);
  return proxy ? redactUrl(proxy) : undefined;
}

const TLS_VERIFY_CODES = /^(?:ERR_TLS_CERT_ALTNAME_INVALID|CERT_\w+|UNABLE_TO_\w+|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|ERR_TLS_\w*CERT\w*)$/;

export const TLS_HINT =
  "OpenCTI's TLS certificate was not accepted. If a private CA signed it, set OPENCTI_CA_FILE to that CA's PEM file (or OPENCTI_SSL_VERIFY to its path); OPENCTI_SSL_VERIFY=false turns verification off (not recommended)";

/** The code of the certificate verification failure behind `error` (undici wraps it in `cause`), if that is what it is. */
export function tlsVerifyFailure(error: unknown): string | undefined {
  for (let current = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && TLS_VERIFY_CODES.test(code)) return code;
  }
  return undefined;
}

/** A network error as a short log field: the innermost message and code (undici's own message is just "fetch failed"). */
export function networkErrorFields(error: unknown): { message: string; code?: string } {
  let innermost: unknown = error;
  for (let depth = 0; depth < 5; depth += 1) {
    if (innermost instanceof Error && innermost.cause instanceof Error) innermost = innermost.cause;
    else if (innermost instanceof AggregateError && innermost.errors[0] instanceof Error) innermost = innermost.errors[0];
    else break;
  }
  const message = innermost instanceof Error ? innermost.message : String(innermost);
  const code = innermost instanceof Error ? (innermost as NodeJS.ErrnoException).code : undefined;
  return { message: message.slice(0, 300), ...(typeof code === 'string' ? { code } : {}) };
}
