/**
 * The alert rules of deploy/prometheus/alerts.yml against their unit tests
 * (alerts.test.yml, run by `promtool test rules`) and their runbook
 * (docs/alerts.md): every alert is shown firing and shown silent in a case
 * that looks like it (a standby's growing lag after a failover, a steady
 * queue, a steady failed set), and its runbook section exists.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { repoFile } from '../helpers/docs.js';

interface Rule { alert: string; expr: string; annotations?: Record<string, string> }
interface RuleTest { alertname: string; exp_alerts: unknown[] }

const rules = (parseYaml(repoFile('deploy/prometheus/alerts.yml')) as { groups: Array<{ rules: Rule[] }> }).groups.flatMap((group) => group.rules);
const cases = (parseYaml(repoFile('deploy/prometheus/alerts.test.yml')) as { tests: Array<{ alert_rule_test: RuleTest[] }> }).tests.flatMap((test) => test.alert_rule_test);

/** GitHub's anchor of a Markdown heading. */
const anchor = (heading: string) => heading.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');

describe('Prometheus alert rules', () => {
  it('include the alerts users need', () => {
    assert.deepEqual(rules.map(({ alert }) => alert).sort(), [
      'OpenctiWebhookDeadLetters',
      'OpenctiWebhookDeadLettersGrowing',
      'OpenctiWebhookEndpointDown',
      'OpenctiWebhookNoIngesterLeader',
      'OpenctiWebhookQueueGrowing',
      'OpenctiWebhookRedisDown',
      'OpenctiWebhookRedisMemoryHigh',
      'OpenctiWebhookStreamDisconnected',
      'OpenctiWebhookStreamLag',
    ]);
  });

  it('read the ingester stream metrics of the leader only (a standby keeps stale values)', () => {
    for (const { alert, expr } of rules) {
      for (const metric of ['opencti_webhook_stream_lag_seconds', 'opencti_webhook_stream_connected', 'opencti_webhook_redis_memory_used_ratio']) {
        if (expr.includes(metric)) assert.match(expr, new RegExp(`${metric} and on \\(job, instance\\) \\(opencti_webhook_ingester_leader == 1\\)`), alert);
      }
    }
  });

  it('each have a summary and a runbook section in docs/alerts.md', () => {
    const headings = new Set([...repoFile('docs/alerts.md').matchAll(/^#{2,4} (.+)$/gm)].map(([, heading]) => anchor(heading!)));
    for (const { alert, annotations } of rules) {
      assert.ok(annotations?.summary, `${alert} has no summary`);
      assert.equal(annotations?.runbook, `docs/alerts.md#${alert.toLowerCase()}`, alert);
      assert.ok(headings.has(alert.toLowerCase()), `docs/alerts.md has no section ${alert}`);
    }
  });

  it('each are tested firing and silent', () => {
    for (const { alert } of rules) {
      const tested = cases.filter(({ alertname }) => alertname === alert);
      assert.ok(tested.some(({ exp_alerts }) => exp_alerts.length > 0), `no case where ${alert} fires`);
      assert.ok(tested.some(({ exp_alerts }) => exp_alerts.length === 0), `no case where ${alert} stays silent`);
    }
  });

  // Debian's prometheus package provides promtool; .ci/run installs it.
  const promtool = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((path) => existsSync(path));
  it('pass their unit tests (promtool test rules)', { skip: !promtool && !process.env.CI ? 'promtool not found (apt-get install prometheus)' : false }, () => {
    assert.ok(promtool, "promtool is missing: .ci/run installs Debian's prometheus package");
    const result = spawnSync(promtool, ['test', 'rules', 'alerts.test.yml'], { cwd: fileURLToPath(new URL('../../../deploy/prometheus/', import.meta.url)), encoding: 'utf8' });
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
  });
});
