/**
 * docker-compose.yml, the Dockerfiles, the Prometheus config and the Grafana
 * dashboard checked against the configuration schema and docs/metrics.md: a
 * variable the product does not read, a port published beyond loopback or a
 * panel on an undocumented metric is a deployment bug nobody would see
 * until production.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { PROXY_VARIABLES } from '../../shared/net/proxy.js';
import { envName } from '../../shared/config/load.js';
import { ConfigSchema, DestinationRoutingFields, destinationSchema } from '../../shared/config/schema.js';
import { loadDispatcherConfig } from '../../dispatcher/config.js';
import { loadIngesterConfig } from '../../ingester/config.js';
import { documentedMetrics, repoFile } from '../helpers/docs.js';
import { tempDir } from './config-helpers.js';

interface ComposeService {
  build?: { dockerfile?: string };
  image?: string;
  command?: string[];
  environment?: Record<string, unknown>;
  ports?: string[];
  profiles?: string[];
  volumes?: string[];
}

const compose = parseYaml(repoFile('docker-compose.yml'), { merge: true }) as { services: Record<string, ComposeService> };
const ourServices = Object.entries(compose.services).filter(([, service]) => service.build?.dockerfile?.startsWith('Dockerfile.'));
const knownVariables = new Set<string>(['CONFIG_FILE', 'DESTINATIONS', ...PROXY_VARIABLES]);
for (const [section, sectionSchema] of Object.entries(ConfigSchema.shape)) {
  for (const key of Object.keys(sectionSchema.shape)) knownVariables.add(envName(section, key));
}
const destinationKeys = Object.keys(destinationSchema('DESTINATION_X_').shape).map((key) => key.toUpperCase());
const routingKeys = Object.keys(DestinationRoutingFields.shape).map((key) => key.toUpperCase());
/** A variable the product reads: a section's, or a named destination's DESTINATION_<NAME>_<KEY>. */
function isKnownVariable(variable: string): boolean {
  return knownVariables.has(variable) || destinationKeys.some((key) => new RegExp(`^DESTINATION_[A-Z0-9][A-Z0-9_]*_${key}$`).test(variable));
}
/** The variables of one destination (`default` is WEBHOOK_) that decide which events it takes. */
function isRoutingVariable(variable: string): boolean {
  return /^(?:WEBHOOK|DESTINATION_[A-Z0-9_]+)_/.test(variable) && routingKeys.some((key) => variable.endsWith(`_${key}`));
}

describe('docker-compose.yml', () => {
  it('runs the ingester, the dispatcher and, in profiles, the board and monitoring', () => {
    assert.deepEqual(ourServices.map(([name]) => name).sort(), ['board', 'dispatcher', 'ingester']);
    assert.deepEqual(compose.services.board?.profiles, ['board']);
    assert.deepEqual(compose.services.prometheus?.profiles, ['monitoring']);
    assert.deepEqual(compose.services.grafana?.profiles, ['monitoring']);
  });

  it('sets only variables the product reads', () => {
    for (const [name, service] of ourServices) {
      const unknown = Object.keys(service.environment ?? {}).filter((variable) => !isKnownVariable(variable));
      assert.deepEqual(unknown, [], `${name} sets variables no process reads`);
    }
  });

  it('gives the ingester, the dispatcher and the board one destination list, and the board no destination setting', () => {
    const list = (name: string) => {
      const environment = compose.services[name]?.environment ?? {};
      return { DESTINATIONS: environment.DESTINATIONS, WEBHOOK_URL: environment.WEBHOOK_URL };
    };
    assert.match(String(list('dispatcher').DESTINATIONS), /^\$\{DESTINATIONS/);
    assert.deepEqual(list('ingester'), list('dispatcher'));
    assert.deepEqual(list('board'), list('dispatcher'));
    const boardSettings = Object.keys(compose.services.board?.environment ?? {}).filter((variable) => /^(?:WEBHOOK|DESTINATION)_/.test(variable));
    assert.deepEqual(boardSettings, ['WEBHOOK_URL'], 'the board reads only the names of the destinations (and whether WEBHOOK_URL is set)');
  });

  it('gives the ingester and the dispatcher the same routing settings, all of them, and the ingester no credentials', () => {
    const routing = (name: string) => Object.entries(compose.services[name]?.environment ?? {}).filter(([variable]) => isRoutingVariable(variable));
    assert.deepEqual(routing('ingester').map(([variable]) => variable).sort(), routingKeys.map((key) => `WEBHOOK_${key}`).sort());
    assert.deepEqual(routing('ingester'), routing('dispatcher'));
    const deliveryOnly = Object.keys(compose.services.ingester?.environment ?? {}).filter((variable) => /^(?:WEBHOOK|DESTINATION)_/.test(variable) && variable !== 'WEBHOOK_URL' && !isRoutingVariable(variable));
    assert.deepEqual(deliveryOnly, [], 'the ingester gets delivery settings it never reads');
  });

  it('publishes every port on 127.0.0.1 only', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const port of service.ports ?? []) assert.match(port, /^127\.0\.0\.1:/, `${name} publishes ${port}`);
    }
  });

  it('runs the board in board-only mode with credentials from the environment', () => {
    const board = compose.services.board!;
    const entry = board.command?.find((arg) => arg.endsWith('.js'));
    assert.equal(entry, 'dist/dispatcher/board/main.js');
    assert.ok(existsSync(fileURLToPath(new URL(`../../../${entry}`, import.meta.url))), `${entry} is not built`);
    assert.match(String(board.environment?.BULL_BOARD_USERNAME), /^\$\{BULL_BOARD_USERNAME/);
    assert.match(String(board.environment?.BULL_BOARD_PASSWORD), /^\$\{BULL_BOARD_PASSWORD/);
  });

  it('pins the images it does not build and mounts files that exist', () => {
    for (const name of ['prometheus', 'grafana', 'webhook-redis']) assert.match(String(compose.services[name]?.image), /:[\w.-]+$/, name);
    for (const mount of ['deploy/prometheus/prometheus.yml', 'deploy/prometheus/alerts.yml', 'deploy/grafana/provisioning', 'docs/grafana-dashboard.json']) {
      assert.ok(existsSync(fileURLToPath(new URL(`../../../${mount}`, import.meta.url))), mount);
    }
  });
});

/** Compose's interpolation of a value: ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}. */
function interpolate(value: unknown, dotEnv: Readonly<Record<string, string>>): string {
  return String(value).replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}/g, (_, name: string, colon: string, kind: string, operand: string) => {
    const given = dotEnv[name];
    const missing = given === undefined || (colon === ':' && given === '');
    if (!missing) return given;
    if (kind === '?') throw new Error(`compose would stop: ${name} is not set`);
    return kind === '-' ? operand : '';
  });
}

describe("the README's destinations example (docker-compose.override.yml)", () => {
  const readme = repoFile('README.md');
  const start = readme.indexOf('# docker-compose.override.yml');
  assert.ok(start >= 0, 'README.md has no docker-compose.override.yml example');
  const override = parseYaml(readme.slice(start, readme.indexOf('```', start)), { merge: true }) as { services: Record<string, ComposeService> };
  const files = tempDir();
  after(() => files.cleanup());
  const noConfigFile = files.write('empty.yml', '');
  // The quick start's .env, plus what the example asks for.
  const dotEnv = {
    OPENCTI_URL: 'https://opencti.example.com',
    OPENCTI_TOKEN: 'opencti-api-token',
    CONNECTOR_ID: '1d3c1c52-0a1e-4c39-9e2c-5b6f7e3f9a10',
    CONNECTOR_LIVE_STREAM_ID: 'b1a2c3d4-live',
    WEBHOOK_URL: 'https://soar.example.com/webhook',
    WEBHOOK_SIGNING_SECRET: `whsec_${Buffer.alloc(32, 7).toString('base64')}`,
    DESTINATIONS: 'teams,splunk',
    DESTINATION_TEAMS_URL: 'https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=s3cret',
    DESTINATION_SPLUNK_TOKEN: '00000000-0000-0000-0000-000000000000',
  };
  /** A service's environment as compose gives it: the base file's, the override's on top, interpolated. */
  const environment = (name: string) => {
    const merged = { ...compose.services[name]?.environment, ...override.services[name]?.environment };
    return Object.fromEntries(Object.entries(merged).map(([variable, value]) => [variable, interpolate(value, dotEnv)]));
  };

  it('only overrides services of the compose file, with variables the product reads', () => {
    for (const [name, service] of Object.entries(override.services)) {
      assert.ok(compose.services[name], `${name} is not a service of docker-compose.yml`);
      assert.deepEqual(Object.keys(service.environment ?? {}).filter((variable) => !isKnownVariable(variable)), [], name);
    }
  });

  it('starts an ingester and a dispatcher that agree on the destinations and their filters', () => {
    const ingester = loadIngesterConfig({ env: environment('ingester'), file: noConfigFile });
    const dispatcher = loadDispatcherConfig({ env: environment('dispatcher'), file: noConfigFile });
    assert.deepEqual(ingester.destinations.map(({ name }) => name), ['default', 'teams', 'splunk']);
    assert.deepEqual(dispatcher.destinations.map(({ name }) => name), ['default', 'teams', 'splunk']);
    for (const { name, settings } of ingester.destinations) {
      const delivered = dispatcher.destinations.find((destination) => destination.name === name)!.settings;
      for (const key of Object.keys(DestinationRoutingFields.shape) as Array<keyof typeof settings>) assert.deepEqual(settings[key], delivered[key], `${name}: ${key}`);
    }
    const [soar, teams, splunk] = dispatcher.destinations.map(({ settings }) => settings);
    assert.equal(soar?.format, 'raw');
    assert.equal(soar?.signing_secret?.length, 1);
    assert.equal(teams?.format, 'teams');
    assert.deepEqual(teams?.markings_exclude, ['tlp:red', 'tlp:amber+strict']);
    assert.equal(splunk?.format, 'splunk-hec');
    assert.equal(splunk?.auth_type, 'SPLUNK');
  });
});

describe('docker-compose.yml Redis', () => {
  const args = compose.services['webhook-redis']?.command ?? [];
  const value = (flag: string) => args[args.indexOf(flag) + 1];

  it('bounds Redis memory (REDIS_MAXMEMORY, 1gb by default) and refuses writes rather than evict queued events', () => {
    assert.equal(value('--maxmemory'), '${REDIS_MAXMEMORY:-1gb}');
    assert.equal(value('--maxmemory-policy'), 'noeviction');
  });

  it('lets the ingester stop below maxmemory, and keeps dead letters unless told otherwise', () => {
    assert.equal(compose.services.ingester?.environment?.INGESTER_MAX_REDIS_MEMORY_PERCENT, '${INGESTER_MAX_REDIS_MEMORY_PERCENT:-90}');
    for (const variable of ['DISPATCHER_FAILED_RETENTION_COUNT', 'DISPATCHER_FAILED_RETENTION_AGE_MS']) {
      assert.equal(compose.services.dispatcher?.environment?.[variable], `\${${variable}:-}`, `${variable} must default to unset`);
    }
  });
});

for (const kind of ['ingester', 'dispatcher']) {
  describe(`Dockerfile.${kind}`, () => {
    const lines = repoFile(`Dockerfile.${kind}`).split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
    const instructions = (name: string) => lines.filter((line) => line.toUpperCase().startsWith(`${name} `));

    it('runs as a non-root user', () => {
      const user = instructions('USER').at(-1);
      assert.ok(user, 'no USER');
      assert.doesNotMatch(user, /^USER\s+(root|0)(:|$)/i);
    });

    it('has a HEALTHCHECK probing /healthz and a CMD', () => {
      const healthcheck = lines.findIndex((line) => line.startsWith('HEALTHCHECK'));
      assert.ok(healthcheck >= 0, 'no HEALTHCHECK');
      assert.match(lines.slice(healthcheck, healthcheck + 2).join(' '), /\/healthz/);
      assert.match(instructions('CMD').at(-1) ?? '', new RegExp(`dist/${kind}/main\\.js`));
    });
  });
}

describe('monitoring files', () => {
  const documented = new Set(documentedMetrics().map((metric) => metric.name));

  it('the Grafana dashboard only queries documented metrics, through its data source variable', () => {
    const dashboard = JSON.parse(repoFile('docs/grafana-dashboard.json')) as { uid: string; panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }> };
    assert.equal(dashboard.uid, 'opencti-webhook');
    const queried = new Set<string>();
    for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
      assert.ok(panel.targets && panel.targets.length > 0, `panel ${panel.title} has no query`);
      for (const { expr } of panel.targets) {
        for (const [name] of expr.matchAll(/\b(?:opencti_webhook_[a-z_]+|processed_messages_total|current_state)\b/g)) queried.add(name.replace(/_(bucket|count|sum)$/, ''));
      }
    }
    assert.deepEqual([...queried].filter((name) => !documented.has(name)), [], 'undocumented metrics in the dashboard');
    for (const wanted of ['processed_messages_total', 'opencti_webhook_event_latency_seconds', 'opencti_webhook_queue_jobs', 'opencti_webhook_events_failed_total',
      'current_state', 'opencti_webhook_stream_lag_seconds', 'opencti_webhook_stream_disconnects_total', 'opencti_webhook_redis_up']) {
      assert.ok(queried.has(wanted), `the dashboard does not show ${wanted}`);
    }
  });

  it('the Grafana dashboard has a destination variable, and every query of a per-destination metric follows it', () => {
    const dashboard = JSON.parse(repoFile('docs/grafana-dashboard.json')) as {
      templating: { list: Array<{ name: string; query?: unknown; multi?: boolean; includeAll?: boolean }> };
      panels: Array<{ title: string; targets?: Array<{ expr: string }> }>;
    };
    const variable = dashboard.templating.list.find(({ name }) => name === 'destination');
    assert.ok(variable, 'no destination variable');
    assert.match(JSON.stringify(variable.query), /label_values\(processed_messages_total, ?destination\)/);
    assert.equal(variable.multi, true);
    assert.equal(variable.includeAll, true);
    const perDestination = documentedMetrics().filter(({ labels }) => labels.includes('destination')).map(({ name }) => name);
    assert.ok(perDestination.includes('processed_messages_total'), 'docs/metrics.md documents no destination label');
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets ?? []) {
        for (const [selector, name] of expr.matchAll(/\b([a-z_]+?)(?:_bucket|_count|_sum)?(?:\{[^}]*\})?(?=\[|\)|\s|$)/g)) {
          if (name && perDestination.includes(name)) assert.match(selector, /destination=~"\$destination"/, `${panel.title}: ${expr}`);
        }
      }
    }
  });

  it("the Grafana dashboard shows the leading ingester's stream metrics only (a standby keeps its last term's values)", () => {
    const dashboard = JSON.parse(repoFile('docs/grafana-dashboard.json')) as { panels: Array<{ title: string; targets?: Array<{ expr: string }> }> };
    const leaderOnly = ['opencti_webhook_stream_lag_seconds', 'opencti_webhook_stream_connected', 'current_state', 'opencti_webhook_ingester_buffered_events', 'opencti_webhook_ingester_paused', 'opencti_webhook_redis_memory_used_ratio'];
    let checked = 0;
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets ?? []) {
        for (const metric of leaderOnly.filter((name) => new RegExp(`\\b${name}\\b`).test(expr))) {
          assert.ok(expr.includes(`${metric} and on (job, instance) (opencti_webhook_ingester_leader == 1)`), `${panel.title}: ${expr}`);
          checked += 1;
        }
      }
    }
    assert.ok(checked >= 5, `${checked} leader-only queries`);
  });

  it('Prometheus loads alert rules, mounted next to its config, on documented metrics, each explained in docs/alerts.md', () => {
    const config = parseYaml(repoFile('deploy/prometheus/prometheus.yml')) as { rule_files?: string[] };
    assert.deepEqual(config.rule_files, ['alerts.yml']);
    assert.ok(compose.services.prometheus?.volumes?.includes('./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro'), 'alerts.yml is not mounted');
    const rules = parseYaml(repoFile('deploy/prometheus/alerts.yml')) as { groups: Array<{ rules: Array<{ alert: string; expr: string; annotations?: { summary?: string } }> }> };
    const alerts = rules.groups.flatMap((group) => group.rules);
    const guide = repoFile('docs/alerts.md');
    assert.ok(alerts.length > 0);
    for (const { alert, expr, annotations } of alerts) {
      const metrics = [...expr.matchAll(/\bopencti_webhook_[a-z_]+\b/g)].map(([name]) => name);
      assert.ok(metrics.length > 0, `${alert} queries no metric of ours`);
      assert.deepEqual(metrics.filter((name) => !documented.has(name)), [], `${alert} queries undocumented metrics`);
      assert.ok(annotations?.summary, `${alert} has no summary`);
      assert.ok(guide.includes(alert), `docs/alerts.md does not explain ${alert}`);
    }
  });

  // Prometheus' own checker: a rule that parses as YAML may still be invalid PromQL. .ci/run installs it (Debian's prometheus).
  const promtool = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((path) => existsSync(path));
  it('promtool accepts the alert rules and the Prometheus config', { skip: !promtool && !process.env.CI ? 'promtool not found (apt-get install prometheus)' : false }, () => {
    assert.ok(promtool, 'promtool is missing: .ci/run installs Debian\'s prometheus package');
    execFileSync(promtool, ['check', 'rules', fileURLToPath(new URL('../../../deploy/prometheus/alerts.yml', import.meta.url))], { stdio: 'pipe' });
    execFileSync(promtool, ['check', 'config', '--syntax-only', fileURLToPath(new URL('../../../deploy/prometheus/prometheus.yml', import.meta.url))], { stdio: 'pipe' });
  });

  it('Prometheus scrapes the ingester, every dispatcher replica and the board on the metrics port', () => {
    const config = parseYaml(repoFile('deploy/prometheus/prometheus.yml')) as { scrape_configs: Array<{ job_name: string; static_configs?: Array<{ targets: string[] }>; dns_sd_configs?: Array<{ names: string[]; port: number }> }> };
    const targets = config.scrape_configs.flatMap((job) => [
      ...(job.static_configs ?? []).flatMap((c) => c.targets),
      ...(job.dns_sd_configs ?? []).flatMap((c) => c.names.map((name) => `${name}:${c.port}`)),
    ]);
    assert.deepEqual(targets.sort(), ['board:9113', 'dispatcher:9113', 'ingester:9113']);
  });
});
