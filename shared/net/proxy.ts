import { redactUrl } from '../observability/redact.js';

/**
 * The proxy variables, each as undici's EnvHttpProxyAgent reads it: the
 * lower-case name wins over the upper-case one, even when set to nothing.
 * Read once, by the configuration loader; undefined when neither is set.
 */
export interface ProxySettings {
  /** http_proxy, else HTTP_PROXY. */
  httpProxy?: string | undefined;
  /** https_proxy, else HTTPS_PROXY. */
  httpsProxy?: string | undefined;
  /** no_proxy, else NO_PROXY. */
  noProxy?: string | undefined;
}

/** Environment variables outside the configuration schema, honoured in either case. */
export const PROXY_VARIABLES = ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY'] as const;

export function proxySettingsFrom(env: Readonly<Record<string, string | undefined>>): ProxySettings {
  return {
    httpProxy: env.http_proxy ?? env.HTTP_PROXY,
    httpsProxy: env.https_proxy ?? env.HTTPS_PROXY,
    noProxy: env.no_proxy ?? env.NO_PROXY,
  };
}

/**
 * The proxy options of an EnvHttpProxyAgent. Each is given, '' for none:
 * undici reads process.env for any that is undefined, and would then
 * disagree with what the startup log says.
 */
export function undiciProxyOptions(settings: ProxySettings): { httpProxy: string; httpsProxy: string; noProxy: string } {
  return { httpProxy: settings.httpProxy ?? '', httpsProxy: settings.httpsProxy ?? '', noProxy: settings.noProxy ?? '' };
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

/**
 * The proxy requests to `url` go through, without its credentials, or
 * undefined when they go direct. undici's rule (EnvHttpProxyAgent, 7.x):
 * https uses HTTPS_PROXY, else HTTP_PROXY; http uses HTTP_PROXY. NO_PROXY
 * holds entries separated by commas or white space; exactly `*` turns the
 * proxy off for every host (` *` or `a,*` do not); an entry matches its host
 * and the host's subdomains, after dropping a leading `.` or `*.`;
 * `host:port` matches that port only (80/443 when the URL names none);
 * case does not matter; an IPv6 entry needs its brackets.
 */
export function proxyFor(url: string | URL, settings: ProxySettings): string | undefined {
  const target = new URL(url);
  const http = settings.httpProxy || undefined;
  const proxy = target.protocol === 'https:' ? settings.httpsProxy || http : http;
  if (proxy === undefined) return undefined;
  const host = target.host.replace(/:\d*$/, '').toLowerCase();
  const port = Number.parseInt(target.port, 10) || DEFAULT_PORTS[target.protocol] || 0;
  return bypasses(settings.noProxy ?? '', host, port) ? undefined : redactUrl(proxy);
}

function bypasses(noProxy: string, host: string, port: number): boolean {
  const entries = noProxy
    .split(/[,\s]/)
    .filter(Boolean)
    .map((entry) => {
      const withPort = /^(.+):(\d+)$/.exec(entry);
      return { host: (withPort?.[1] ?? entry).replace(/^\*?\./, '').toLowerCase(), port: withPort ? Number.parseInt(withPort[2]!, 10) : 0 };
    });
  if (entries.length === 0) return false;
  if (noProxy === '*') return true;
  return entries.some((entry) => (!entry.port || entry.port === port) && (host === entry.host || host.endsWith(`.${entry.host}`)));
}
