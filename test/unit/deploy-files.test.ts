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
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { PROXY_VARIABLES } from '../../shared/net/proxy.js';
import { envName } from '../../shared/config/load.js';
import { ConfigSchema } from '../../shared/config/schema.js';
import { documentedMetrics, repoFile } from '../helpers/docs.js';

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
const knownVariables = new Set<string>(['CONFIG_FILE', ...PROXY_VARIABLES]);
for (const [section, sectionSchema] of Object.entries(ConfigSchema.shape)) {
  for (const key of Object.keys(sectionSchema.shape)) knownVariables.add(envName(section, key));
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
      const unknown = Object.keys(service.environment ?? {}).filter((variable) => !knownVariables.has(variable));
      assert.deepEqual(unknown, [], `${name} sets variables no process reads`);
    }
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
    for (const name of ['prometheus', 'grafana', 'redis']) assert.match(String(compose.services[name]?.image), /:[\w.-]+$/, name);
    for (const mount of ['deploy/prometheus/prometheus.yml', 'deploy/prometheus/alerts.yml', 'deploy/grafana/provisioning', 'docs/grafana-dashboard.json']) {
      assert.ok(existsSync(fileURLToPath(new URL(`../../../${mount}`, import.meta.url))), mount);
    }
  });
});

describe('docker-compose.yml Redis', () => {
  const args = compose.services.redis?.command ?? [];
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

    it('builds every stage on Node.js 20 (LTS)', () => {
      const bases = instructions('FROM');
      assert.ok(bases.length > 0);
      for (const base of bases) assert.match(base, /^FROM node:20(?:[.-][\w.-]+)?(?:\s+AS\s+\w+)?$/i);
    });

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

  it('Prometheus loads alert rules, mounted next to its config, on documented metrics, each explained in docs/redis-memory.md', () => {
    const config = parseYaml(repoFile('deploy/prometheus/prometheus.yml')) as { rule_files?: string[] };
    assert.deepEqual(config.rule_files, ['alerts.yml']);
    assert.ok(compose.services.prometheus?.volumes?.includes('./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro'), 'alerts.yml is not mounted');
    const rules = parseYaml(repoFile('deploy/prometheus/alerts.yml')) as { groups: Array<{ rules: Array<{ alert: string; expr: string; annotations?: { summary?: string } }> }> };
    const alerts = rules.groups.flatMap((group) => group.rules);
    const guide = repoFile('docs/redis-memory.md');
    assert.ok(alerts.length > 0);
    for (const { alert, expr, annotations } of alerts) {
      const metrics = [...expr.matchAll(/\bopencti_webhook_[a-z_]+\b/g)].map(([name]) => name);
      assert.ok(metrics.length > 0, `${alert} queries no metric of ours`);
      assert.deepEqual(metrics.filter((name) => !documented.has(name)), [], `${alert} queries undocumented metrics`);
      assert.ok(annotations?.summary, `${alert} has no summary`);
      assert.ok(guide.includes(alert), `docs/redis-memory.md does not explain ${alert}`);
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
