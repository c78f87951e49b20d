import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { EnvHttpProxyAgent, type Dispatcher } from 'undici';
import { ConfigError } from '../../shared/config/load.js';
import { innermostError } from '../../shared/errors/causes.js';
import { undiciProxyOptions, type ProxySettings } from '../../shared/net/proxy.js';
import { classifyTlsFailure } from '../../shared/net/tls-error.js';
import { tlsConnectionOptions } from '../../shared/net/tls.js';

export interface PlatformTlsSettings {
  /** OPENCTI_SSL_VERIFY: a boolean, or the path of a CA bundle (pycti). */
  ssl_verify: boolean | string;
  /** OPENCTI_CA_FILE */
  ca_file?: string | undefined;
}

/**
 * The TLS options of every connection to OpenCTI (stream and GraphQL),
 * trusting the CA bundles named by OPENCTI_SSL_VERIFY (when it is a path)
 * and OPENCTI_CA_FILE. A file that cannot be read, or holds no certificate,
 * is a configuration error naming its variable.
 */
export function platformTls(settings: PlatformTlsSettings): ConnectionOptions {
  if (settings.ssl_verify === false) return tlsConnectionOptions({ verify: false });
  const sources = [
    typeof settings.ssl_verify === 'string' ? { variable: 'OPENCTI_SSL_VERIFY', key: 'opencti.ssl_verify', path: settings.ssl_verify } : undefined,
    settings.ca_file ? { variable: 'OPENCTI_CA_FILE', key: 'opencti.ca_file', path: settings.ca_file } : undefined,
  ].filter((source) => source !== undefined);
  const problems: ConfigError['problems'] = [];
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
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return tlsConnectionOptions({ verify: true, caFiles: sources.map(({ path }) => path) });
}

/**
 * The one undici dispatcher for every request to OpenCTI: TLS as configured,
 * and HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case) honoured like
 * python-requests does for pycti. No body or header timeout: the stream is
 * idle between frames (its watchdog is the stream client's), and GraphQL
 * calls carry their own deadline. HTTP/1.1 only (undici 8 would negotiate
 * HTTP/2 where the platform's TLS front offers it): over one HTTP/2
 * connection, a stream paused for backpressure could hold up GraphQL calls
 * by exhausting the connection's flow-control window.
 */
export function createPlatformDispatcher(tls: ConnectionOptions, proxy: ProxySettings): Dispatcher {
  return new EnvHttpProxyAgent({ bodyTimeout: 0, headersTimeout: 0, allowH2: false, connect: tls, requestTls: tls, ...undiciProxyOptions(proxy) });
}

export const TLS_HINT =
  "OpenCTI's TLS certificate was not accepted. If a private CA signed it, set OPENCTI_CA_FILE to that CA's PEM file (or OPENCTI_SSL_VERIFY to its path); OPENCTI_SSL_VERIFY=false turns verification off (not recommended)";

/** The code of the failed verification of OpenCTI's certificate behind `error`, if that is what it is. */
export function tlsVerifyFailure(error: unknown): string | undefined {
  const failure = classifyTlsFailure(error);
  return failure?.verification ? failure.code : undefined;
}

/** A network error as a short log field: the innermost message and code (undici's own message is just "fetch failed"). */
export function networkErrorFields(error: unknown): { message: string; code?: string } {
  const innermost = innermostError(error);
  const message = innermost instanceof Error ? innermost.message : String(innermost);
  const code = innermost instanceof Error ? (innermost as NodeJS.ErrnoException).code : undefined;
  return { message: message.slice(0, 300), ...(typeof code === 'string' ? { code } : {}) };
}
