import { redactUrl } from '../observability/redact.js';

/**
 * The proxy variables as curl reads them: the lower-case name first, then the
 * upper-case one, and an empty variable is unset. So `HTTPS_PROXY=""` (what
 * compose passes for an unset `${HTTPS_PROXY:-}`) means no proxy, and an
 * empty `https_proxy` does not hide `HTTPS_PROXY`. (undici's own reading of
 * process.env lets an empty lower-case variable win; the settings are always
 * passed to it explicitly, so its rule never applies.) Read once, by the
 * configuration loader.
 */
export interface ProxySettings {
  /** http_proxy, else HTTP_PROXY; undefined when both are unset or empty. */
  httpProxy?: string | undefined;
  /** https_proxy, else HTTPS_PROXY. */
  httpsProxy?: string | undefined;
  /** no_proxy, else NO_PROXY. */
  noProxy?: string | undefined;
  /** The variable each setting came from, for the startup log. */
  sources?: Partial<Record<ProxySetting, string>>;
}

type ProxySetting = 'httpProxy' | 'httpsProxy' | 'noProxy';

/** Environment variables outside the configuration schema, honoured in either case. */
export const PROXY_VARIABLES = ['HTTPS_PROXY', 'HTTP_PROXY', 'NO_PROXY'] as const;

const VARIABLE_OF: Record<ProxySetting, (typeof PROXY_VARIABLES)[number]> = { httpsProxy: 'HTTPS_PROXY', httpProxy: 'HTTP_PROXY', noProxy: 'NO_PROXY' };

export function proxySettingsFrom(env: Readonly<Record<string, string | undefined>>): ProxySettings {
  const sources: Partial<Record<ProxySetting, string>> = {};
  const settings: ProxySettings = { sources };
  for (const [setting, upper] of Object.entries(VARIABLE_OF) as Array<[ProxySetting, string]>) {
    const variable = [upper.toLowerCase(), upper].find((name) => env[name]);
    if (variable === undefined) continue;
    settings[setting] = env[variable];
    sources[setting] = variable;
  }
  return settings;
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
  return route(url, settings).proxy;
}

/**
 * How requests to `url` go, for a startup log: the proxy and the variable it
 * came from, or `direct` and why (the NO_PROXY variable that covers the host,
 * or which variables are unset or empty).
 */
export function describeProxy(url: string | URL, settings: ProxySettings): string {
  const { proxy, setting } = route(url, settings);
  const source = (name: ProxySetting) => settings.sources?.[name] ?? VARIABLE_OF[name];
  if (setting === undefined) return new URL(url).protocol === 'https:' ? 'direct (HTTPS_PROXY and HTTP_PROXY unset or empty)' : 'direct (HTTP_PROXY unset or empty)';
  return proxy === undefined ? `direct (${source('noProxy')} covers ${new URL(url).host})` : `${proxy} (${source(setting)})`;
}

/** The proxy for `url` and the setting it comes from; a setting without a proxy: NO_PROXY covers the host. */
function route(url: string | URL, settings: ProxySettings): { proxy?: string; setting?: ProxySetting } {
  const target = new URL(url);
  const setting: ProxySetting = target.protocol === 'https:' && settings.httpsProxy ? 'httpsProxy' : 'httpProxy';
  const proxy = settings[setting];
  if (!proxy) return {};
  const host = withoutTrailingDot(target.host.replace(/:\d*$/, '').replace(/^\[(.+)\]$/, '$1').toLowerCase());
  const port = Number.parseInt(target.port, 10) || DEFAULT_PORTS[target.protocol] || 0;
  return bypasses(settings.noProxy ?? '', host, port) ? { setting } : { proxy: redactUrl(proxy), setting };
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
