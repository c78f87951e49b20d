/**
 * Proxy resolution against undici's own EnvHttpProxyAgent: for each
 * environment and URL, whether a request goes through a CONNECT proxy on
 * loopback (which refuses every tunnel, so nothing leaves the machine) is
 * compared with what proxyFor says, with the settings passed to undici
 * explicitly as the processes do, and with undici reading process.env
 * itself, which differs only where a variable is empty (curl's rule, ours:
 * empty is unset; undici's: an empty lower-case variable wins).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { EnvHttpProxyAgent } from 'undici';
import { loadProxySettings, type Environment } from '../../shared/config/load.js';
import { PROXY_VARIABLES, describeProxy, proxyFor, undiciProxyOptions } from '../../shared/net/proxy.js';

const ALL_PROXY_VARIABLES = PROXY_VARIABLES.flatMap((name) => [name, name.toLowerCase()]);

let proxy: Server;
let proxyUrl: string;
let target: Server;
let port: number;
const tunnels: string[] = [];
before(async () => {
  proxy = createServer((_request, response) => response.writeHead(405).end());
  proxy.on('connect', (request, socket) => {
    tunnels.push(request.url ?? '');
    socket.end('HTTP/1.1 502 Bad Gateway\r\n\r\n');
  });
  target = createServer((_request, response) => response.end('direct'));
  proxy.listen(0, '127.0.0.1');
  target.listen(0, '127.0.0.1');
  await Promise.all([once(proxy, 'listening'), once(target, 'listening')]);
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  port = (target.address() as AddressInfo).port;
});
after(() => {
  proxy?.close();
  target?.close();
});

// Every host name is loopback, so a direct request never leaves the machine (or waits for DNS).
const loopback = ((_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
  if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
  else callback(null, '127.0.0.1', 4);
}) as unknown as LookupFunction;

/** Whether undici sent a request to `url` through the proxy. */
async function tunnelled(agent: EnvHttpProxyAgent, url: string): Promise<boolean> {
  const before = tunnels.length;
  await agent
    .request({ origin: url, path: '/', method: 'GET', signal: AbortSignal.timeout(5_000) })
    .then((response) => response.body.dump())
    .catch(() => undefined);
  await agent.close();
  return tunnels.length > before;
}

/** undici reading the proxy variables from process.env, set to `env` for the while. */
async function undiciFromEnvironment(env: Environment, url: string): Promise<boolean> {
  const saved = Object.fromEntries(ALL_PROXY_VARIABLES.map((name) => [name, process.env[name]]));
  for (const name of ALL_PROXY_VARIABLES) {
    if (env[name] === undefined) delete process.env[name];
    else process.env[name] = env[name];
  }
  try {
    return await tunnelled(new EnvHttpProxyAgent({ connect: { lookup: loopback }, proxyTunnel: true }), url);
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
}

/** undici given the settings the loader read; process.env says the opposite meanwhile, and must not count. */
async function undiciFromSettings(env: Environment, url: string): Promise<boolean> {
  const saved = process.env.no_proxy;
  process.env.no_proxy = '*';
  try {
    return await tunnelled(new EnvHttpProxyAgent({ connect: { lookup: loopback }, ...undiciProxyOptions(loadProxySettings(env)) }), url);
  } finally {
    if (saved === undefined) delete process.env.no_proxy;
    else process.env.no_proxy = saved;
  }
}

/**
 * [environment, URL, proxied?, proxied by undici reading process.env (when it differs)];
 * PORT stands for the port of a real server (direct requests reach it).
 */
type Case = [Record<string, string>, string, boolean, boolean?];
const cases = (): Case[] => {
  const P = String(port);
  const via = (noProxy: string | undefined, url: string, proxied: boolean): Case => [
    { HTTP_PROXY: proxyUrl, ...(noProxy === undefined ? {} : { NO_PROXY: noProxy }) },
    url.replace('PORT', P),
    proxied,
  ];
  return [
    via(undefined, 'http://example.com:PORT', true),
    via('', 'http://example.com:PORT', true),
    via(',, ', 'http://example.com:PORT', true),
    via('*', 'http://example.com:PORT', false),
    via('*', 'https://example.com', false),
    via(' *', 'http://example.com:PORT', false),
    via('other.test,*', 'http://example.com:PORT', false),
    via(`*:${P}`, 'http://example.com:PORT', false),
    via('*:1', 'http://example.com:PORT', true),
    via('example.com', 'http://example.com:PORT', false),
    via('example.com', 'http://api.example.com:PORT', false),
    via('example.com', 'http://notexample.com:PORT', true),
    via('.example.com', 'http://example.com:PORT', false),
    via('.example.com', 'http://api.example.com:PORT', false),
    via('*.example.com', 'http://api.example.com:PORT', false),
    via('*.example.com', 'http://example.com:PORT', true),
    via('example.com.', 'http://example.com:PORT', false),
    via('example.com', 'http://example.com.:PORT', false),
    via('api.example.com', 'http://example.com:PORT', true),
    via(`example.com:${P}`, 'http://example.com:PORT', false),
    via('example.com:1', 'http://example.com:PORT', true),
    via('example.com:443', 'https://example.com', false),
    via('example.com:443', 'http://example.com', true),
    via('EXAMPLE.com', 'http://Example.COM:PORT', false),
    via('other.test  example.com', 'http://example.com:PORT', false),
    via('127.0.0.1', 'http://127.0.0.1:PORT', false),
    via('127.0.0.1', 'http://localhost:PORT', true),
    via('[::1]', 'http://[::1]:PORT', false),
    via('::1', 'http://[::1]:PORT', false),
    via(`[::1]:${P}`, 'http://[::1]:PORT', false),
    via('[::1]:1', 'http://[::1]:PORT', true),
    // Which variable: lower case first, an empty one is unset (it hides nothing); https falls back to HTTP_PROXY, http never uses HTTPS_PROXY.
    [{ HTTP_PROXY: proxyUrl, http_proxy: '' }, `http://example.com:${P}`, true, false],
    [{ HTTP_PROXY: proxyUrl, NO_PROXY: '*', no_proxy: '' }, `http://example.com:${P}`, false, true],
    [{ http_proxy: proxyUrl, HTTP_PROXY: 'http://127.0.0.1:1' }, `http://example.com:${P}`, true],
    [{ HTTPS_PROXY: proxyUrl }, `http://example.com:${P}`, false],
    [{ HTTPS_PROXY: proxyUrl }, 'https://example.com', true],
    [{ http_proxy: proxyUrl, HTTPS_PROXY: '' }, 'https://example.com', true],
    [{ https_proxy: '', HTTPS_PROXY: proxyUrl }, 'https://example.com', true, false],
    // What compose passes for unset variables (`${HTTPS_PROXY:-}`): no proxy at all.
    [{ HTTPS_PROXY: '', HTTP_PROXY: '', NO_PROXY: '' }, 'https://example.com', false],
    [{ HTTPS_PROXY: '', HTTP_PROXY: '', NO_PROXY: '' }, `http://example.com:${P}`, false],
    [{}, `http://example.com:${P}`, false],
  ];
};

describe('proxyFor', () => {
  it('agrees with undici given the settings on every NO_PROXY form and variable', async () => {
    for (const [env, url, proxied, byUndiciAlone = proxied] of cases()) {
      const label = `${JSON.stringify(env).replaceAll(proxyUrl, 'PROXY')} ${url}`;
      assert.equal(proxyFor(url, loadProxySettings(env)) !== undefined, proxied, `proxyFor: ${label}`);
      assert.equal(await undiciFromSettings(env, url), proxied, `undici from the settings: ${label}`);
      assert.equal(await undiciFromEnvironment(env, url), byUndiciAlone, `undici from process.env: ${label}`);
    }
  });

  it('names the proxy without its credentials', () => {
    const settings = loadProxySettings({ HTTPS_PROXY: 'http://user:secret@proxy.corp:3128', http_proxy: 'http://plain.corp:8080' });
    assert.equal(proxyFor('https://opencti.example', settings), 'http://proxy.corp:3128/');
    assert.equal(proxyFor('http://opencti.example', settings), 'http://plain.corp:8080/');
  });

  it('logs what requests really use: the proxy and its variable, or direct and why', () => {
    const corporate = loadProxySettings({ HTTPS_PROXY: 'http://user:secret@proxy.corp:3128', http_proxy: 'http://plain.corp:8080', NO_PROXY: '.internal' });
    assert.equal(describeProxy('https://opencti.example', corporate), 'http://proxy.corp:3128/ (HTTPS_PROXY)');
    assert.equal(describeProxy('http://opencti.example', corporate), 'http://plain.corp:8080/ (http_proxy)');
    assert.equal(describeProxy('https://opencti.internal:8443', corporate), 'direct (NO_PROXY covers opencti.internal:8443)');
    assert.equal(describeProxy('https://opencti.example', loadProxySettings({ http_proxy: 'http://plain.corp:8080', HTTPS_PROXY: '' })), 'http://plain.corp:8080/ (http_proxy)');
    const compose = loadProxySettings({ HTTPS_PROXY: '', HTTP_PROXY: '', NO_PROXY: '', https_proxy: '' });
    assert.deepEqual(compose, { sources: {} });
    assert.equal(describeProxy('https://opencti.example', compose), 'direct (HTTPS_PROXY and HTTP_PROXY unset or empty)');
    assert.equal(describeProxy('http://opencti.example', loadProxySettings({ HTTPS_PROXY: 'http://proxy.corp:3128' })), 'direct (HTTP_PROXY unset or empty)');
  });
});
