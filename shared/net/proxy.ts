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
  const host = target.host.replace(/:\d*$/, '').toLowerCase();
  const port = Number.parseInt(target.port, 10) || DEFAULT_PORTS[target.protocol] || 0;
  return bypasses(settings.noProxy ?? '', host, port) ? { setting } : { proxy: redactUrl(proxy), setting };
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
