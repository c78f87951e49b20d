import type { ConnectionOptions } from 'node:tls';
import { describeProxy, type ProxySettings } from '../../shared/net/proxy.js';
import { tlsConnectionOptions } from '../../shared/net/tls.js';
import { redactWebhookUrl } from '../../shared/observability/redact.js';
import type { DispatcherDestination } from '../config.js';
import { WebhookSigner } from './signer.js';
import type { WebhookClientOptions } from './client.js';

/** One destination's settings (WEBHOOK_* or DESTINATION_<NAME>_*). */
type Webhook = DispatcherDestination['settings'];

/** Headers of every request for the configured auth type and WEBHOOK_EXTRA_HEADERS, and the values to keep out of excerpts. */
function staticHeaders(webhook: Webhook): { headers: Record<string, string>; secrets: string[] } {
  const headers: Record<string, string> = { ...webhook.extra_headers };
  const secrets = Object.values(headers);
  const { auth_type: type, header, token, username, password } = webhook;
  if (type === 'TOKEN' && header && token) {
    headers[header.toLowerCase()] = token;
    secrets.push(token);
  } else if (type === 'BEARER' && token) {
    headers.authorization = `Bearer ${token}`;
    secrets.push(token);
  } else if (type === 'SPLUNK' && token) {
    headers.authorization = `Splunk ${token}`;
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
 * Node's bundled CAs, so it is harmless for a public endpoint and enough for
 * one behind a corporate proxy's CA.
 */
function webhookTls(webhook: Webhook): ConnectionOptions {
  return tlsConnectionOptions({
    verify: webhook.ssl_verify,
    caFiles: webhook.ca_file ? [webhook.ca_file] : [],
    clientCertFile: webhook.client_cert_file,
    clientKeyFile: webhook.client_key_file,
  });
}

export function webhookClientOptions(webhook: Webhook, connections: number, proxy: ProxySettings): WebhookClientOptions {
  const { headers, secrets } = staticHeaders(webhook);
  return {
    url: webhook.url,
    connections,
    timeoutMs: webhook.request_timeout_ms,
    headers,
    secrets: [...secrets, ...(webhook.signing_secret ?? [])],
    tls: webhookTls(webhook),
    proxy,
    ...(webhook.signing_secret ? { signer: new WebhookSigner(webhook.signing_secret) } : {}),
  };
}

/** The webhook settings for the startup log: names, counts and flags, never a secret. */
export function describeWebhook(webhook: Webhook, proxy: ProxySettings): Record<string, unknown> {
  const { noProxy } = proxy;
  return {
    webhook: redactWebhookUrl(webhook.url),
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
    proxy: describeProxy(webhook.url, proxy),
    ...(noProxy ? { noProxy } : {}),
    rateLimitPerSecond: webhook.rate_limit_per_second ?? null,
    eventTypes: webhook.event_types ?? 'all',
    entityTypes: webhook.entity_types ?? 'all',
    markingsExclude: webhook.markings_exclude ?? 'none',
    filter: webhook.filter !== undefined,
    ordering: webhook.ordering,
  };
}
