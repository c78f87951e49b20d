import { readFileSync } from 'node:fs';
import { rootCertificates, type ConnectionOptions } from 'node:tls';
import { redactUrl } from '../../shared/observability/redact.js';
import type { DispatcherConfig } from '../config.js';
import { WebhookSigner } from './signer.js';
import type { WebhookClientOptions } from './client.js';

type Webhook = DispatcherConfig['webhook'];

/** Headers of every request for the configured auth type and WEBHOOK_EXTRA_HEADERS, and the values to keep out of excerpts. */
export function staticHeaders(webhook: Webhook): { headers: Record<string, string>; secrets: string[] } {
  const headers: Record<string, string> = { ...webhook.extra_headers };
  const secrets = Object.values(headers);
  const { auth_type: type, header, token, username, password } = webhook;
  if (type === 'TOKEN' && header && token) {
    headers[header.toLowerCase()] = token;
    secrets.push(token);
  } else if (type === 'BEARER' && token) {
    headers.authorization = `Bearer ${token}`;
    secrets.push(token);
  } else if (type === 'BASIC' && username && password) {
    const credentials = Buffer.from(`${username}:${password}`, 'utf8').toString('base64');
    headers.authorization = `Basic ${credentials}`;
    secrets.push(password, credentials);
  }
  return { headers, secrets };
}

/**
 * TLS of the connections to the webhook. A CA file is trusted in addition to
 * Node's bundled CAs (like NODE_EXTRA_CA_CERTS), so it is harmless for a
 * public endpoint and enough for one behind a corporate proxy's CA. The
 * files were checked when the configuration loaded.
 */
export function webhookTls(webhook: Webhook): ConnectionOptions {
  return {
    rejectUnauthorized: webhook.ssl_verify,
    ...(webhook.ca_file ? { ca: [...rootCertificates, readFileSync(webhook.ca_file, 'utf8')] } : {}),
    ...(webhook.client_cert_file && webhook.client_key_file
      ? { cert: readFileSync(webhook.client_cert_file, 'utf8'), key: readFileSync(webhook.client_key_file, 'utf8') }
      : {}),
  };
}

export function webhookClientOptions(webhook: Webhook, connections: number): WebhookClientOptions {
  const { headers, secrets } = staticHeaders(webhook);
  return {
    url: webhook.url,
    connections,
    timeoutMs: webhook.request_timeout_ms,
    headers,
    secrets: [...secrets, ...(webhook.signing_secret ?? [])],
    tls: webhookTls(webhook),
    ...(webhook.signing_secret ? { signer: new WebhookSigner(webhook.signing_secret) } : {}),
  };
}

/** The proxy undici's EnvHttpProxyAgent uses for `url` (lower case wins), without its credentials; undefined when none or NO_PROXY applies to all. */
export function proxyFor(url: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const noProxy = env.no_proxy ?? env.NO_PROXY;
  if (noProxy?.trim() === '*') return undefined;
  const http = env.http_proxy ?? env.HTTP_PROXY;
  const proxy = new URL(url).protocol === 'https:' ? (env.https_proxy ?? env.HTTPS_PROXY ?? http) : http;
  return proxy ? redactUrl(proxy) : undefined;
}

/** The webhook settings for the startup log: names, counts and flags, never a secret. */
export function describeWebhook(webhook: Webhook, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const noProxy = env.no_proxy ?? env.NO_PROXY;
  return {
    webhook: redactUrl(webhook.url),
    authType: webhook.auth_type,
    tokenConfigured: Boolean(webhook.token),
    passwordConfigured: Boolean(webhook.password),
    extraHeaders: Object.keys(webhook.extra_headers ?? {}),
    signingSecrets: webhook.signing_secret?.length ?? 0,
    tls: {
      verify: webhook.ssl_verify,
      caFile: webhook.ca_file ?? null,
      clientCertFile: webhook.client_cert_file ?? null,
      httpsOnly: webhook.https_only,
    },
    proxy: proxyFor(webhook.url, env) ?? null,
    ...(noProxy ? { noProxy } : {}),
    rateLimitPerSecond: webhook.rate_limit_per_second ?? null,
    eventTypes: webhook.event_types ?? 'all',
    entityTypes: webhook.entity_types ?? 'all',
  };
}
