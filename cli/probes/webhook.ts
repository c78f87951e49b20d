import { proxyFor, type ProxySettings } from '../../shared/net/proxy.js';
import { redactWebhookUrl } from '../../shared/observability/redact.js';
import type { DispatcherDestination } from '../../dispatcher/config.js';
import { WebhookClient } from '../../dispatcher/webhook/client.js';
import { webhookClientOptions } from '../../dispatcher/webhook/options.js';
import { classifyError, describeError } from '../../dispatcher/webhook/outcome.js';
import type { CheckRow } from './row.js';

/**
 * Answers that prove the endpoint reachable, its TLS accepted and the
 * request understood: 2xx, and 405/501 (a POST-only endpoint refusing the
 * method, as most webhook receivers do).
 */
function proves(status: number): boolean {
  return (status >= 200 && status < 300) || status === 405 || status === 501;
}

/** What an answer that proves less suggests to check. */
function hint(status: number, variablePrefix: string): string {
  if (status >= 300 && status < 400) return `a redirect: the dispatcher never follows one, so a POST answered alike would fail; set ${variablePrefix}URL to the final address`;
  if (status === 401 || status === 403) return `the configured credentials were refused (${variablePrefix}AUTH_TYPE and its token or password), unless the endpoint authenticates POSTs only`;
  if (status === 404) return `no such path, unless the endpoint answers 404 to everything but a POST: check ${variablePrefix}URL`;
  if (status === 407) return 'the proxy requires authentication (HTTPS_PROXY / HTTP_PROXY)';
  if (status === 429) return 'rate limited now';
  if (status >= 500) return 'the endpoint is reachable but failing';
  return 'the endpoint answered, but refused the request';
}

/**
 * One destination's webhook through the dispatcher's own client (TLS,
 * client certificate, proxy, headers): HEAD, then OPTIONS when HEAD proves
 * too little. Neither carries a body, a webhook-id or a signature, so no
 * event is sent. No HTTP answer at all (refused, DNS, TLS, timeout) fails.
 */
export async function probeWebhook({ name, variablePrefix, settings }: DispatcherDestination, proxy: ProxySettings, timeoutMs: number): Promise<CheckRow> {
  const via = proxyFor(settings.url, proxy);
  const target = `${name} ${redactWebhookUrl(settings.url)}${via ? ` via ${via}` : ''}`;
  const row = (result: CheckRow['result'], detail: string): CheckRow => ({ check: 'webhook', target, result, detail });
  const client = new WebhookClient({ ...webhookClientOptions(settings, 1, proxy), timeoutMs });
  try {
    const head = await client.probe('HEAD');
    if (proves(head.status)) return row('ok', `HEAD answered ${head.status}: reachable${settings.url.startsWith('https:') ? ', TLS accepted' : ''}`);
    const options = await client.probe('OPTIONS').catch(() => undefined);
    if (options && proves(options.status)) return row('ok', `HEAD answered ${head.status}, OPTIONS ${options.status}: reachable`);
    return row('warn', `HEAD answered ${head.status}${options ? `, OPTIONS ${options.status}` : ''}: ${hint(head.status, variablePrefix)}`);
  } catch (error) {
    return row('fail', `${describeError(error, classifyError(error))}${via ? ` (through the proxy ${via})` : ''}`);
  } finally {
    await client.close();
  }
}
