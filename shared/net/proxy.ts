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
 * disagree with what the startup log says. `proxyTunnel`: http:// targets
 * too go through a CONNECT tunnel, as with undici 7 (undici 8 would forward
 * them in absolute form, handing the request and its credentials to the
 * proxy itself); see docs/security.md.
 */
export function undiciProxyOptions(settings: ProxySettings): { httpProxy: string; httpsProxy: string; noProxy: string; proxyTunnel: true } {
  return { httpProxy: settings.httpProxy ?? '', httpsProxy: settings.httpsProxy ?? '', noProxy: settings.noProxy ?? '', proxyTunnel: true };
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

/**
 * The proxy requests to `url` go through, without its credentials, or
 * undefined when they go direct. undici's rule (EnvHttpProxyAgent, 8.x):
 * https uses HTTPS_PROXY, else HTTP_PROXY; http uses HTTP_PROXY. NO_PROXY
 * holds entries separated by commas or white space; a `*` entry, anywhere,
 * turns the proxy off for every host (`*:port` for that port only); an entry
 * matches its host and the host's subdomains after dropping a leading `.`,
 * while `*.example.com` matches subdomains only; `host:port` matches that
 * port only (80/443 when the URL names none); case, a trailing dot and IPv6
 * brackets do not matter.
 */
export function proxyFor(url: string | URL, settings: ProxySettings): string | undefined {
  const target = new URL(url);
  const http = settings.httpProxy || undefined;
  const proxy = target.protocol === 'https:' ? settings.httpsProxy || http : http;
  if (proxy === undefined) return undefined;
  const host = withoutTrailingDot(target.host.replace(/:\d*$/, '').replace(/^\[(.+)\]$/, '$1').toLowerCase());
  const port = Number.parseInt(target.port, 10) || DEFAULT_PORTS[target.protocol] || 0;
  return bypasses(settings.noProxy ?? '', host, port) ? undefined : redactUrl(proxy);
}

function bypasses(noProxy: string, host: string, port: number): boolean {
  return noProxy
    .split(/[,\s]/)
    .filter(Boolean)
    .map(noProxyEntry)
    .some((entry) => (!entry.port || entry.port === port) && (entry.host === '*' || (!entry.subdomainsOnly && host === entry.host) || host.endsWith(`.${entry.host}`)));
}

function noProxyEntry(entry: string): { host: string; port: number; subdomainsOnly: boolean } {
  const bracketedWithPort = /^\[(.+)\]:(\d+)$/.exec(entry);
  const unbracketed = entry.replace(/^\[(.+)\]$/, '$1');
  // A bare IPv6 address has several colons: only `name:digits` names a port.
  const withPort = bracketedWithPort ?? (unbracketed.split(':').length === 2 ? /^(.+):(\d+)$/.exec(unbracketed) : null);
  const host = withPort?.[1] ?? unbracketed;
  return {
    host: withoutTrailingDot(host.replace(/^\*?\./, '').toLowerCase()),
    port: withPort ? Number.parseInt(withPort[2]!, 10) : 0,
    subdomainsOnly: entry.startsWith('*'),
  };
}

/** `example.com.` is `example.com` (the root label); a lone `.` stays. */
function withoutTrailingDot(host: string): string {
  return host.length > 1 && host.endsWith('.') ? host.slice(0, -1) : host;
}
