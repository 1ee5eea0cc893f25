import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startTestGatehouse, type TestGatehouse } from '../helpers/test-gatehouse.js';

const GRAFANA = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'deploy',
  'grafana',
);

/** Every series name a PromQL text names (Gatehouse's all start with gatehouse_). */
function seriesNames(text: string): Set<string> {
  return new Set(text.match(/\bgatehouse_[a-z0-9_]+\b/g) ?? []);
}

/** What a real Gatehouse exports: each family, and a histogram's _bucket/_sum/_count. */
function exported(metricsText: string): Set<string> {
  const names = new Set<string>();
  for (const match of metricsText.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name = '', type] = match;
    names.add(name);
    if (type === 'histogram' || type === 'summary') {
      for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
    }
  }
  return names;
}

describe('deploy/grafana names only series Gatehouse exports', () => {
  let t: TestGatehouse;
  let names: Set<string>;

  beforeAll(async () => {
    // A decision-log service (never reached: nothing is decided) so its series register too.
    t = await startTestGatehouse({
      config: { decisionLogs: { service: { url: 'http://127.0.0.1:9/logs' } } },
    });
    names = exported(await (await request(`${t.probesBase}/metrics`)).body.text());
  });

  afterAll(async () => {
    await t.close();
  });

  it('the dashboard queries exported series only', async () => {
    const text = await readFile(path.join(GRAFANA, 'gatehouse-dashboard.json'), 'utf8');
    const dashboard = JSON.parse(text) as { panels: Array<{ targets: Array<{ expr: string }> }> };
    const exprs = dashboard.panels.flatMap((panel) => panel.targets.map((target) => target.expr));
    const used = seriesNames(exprs.join('\n'));
    expect(used).toContain('gatehouse_decisions_total');
    expect(used).toContain('gatehouse_check_phase_duration_seconds_bucket');
    expect([...used].filter((name) => !names.has(name))).toEqual([]);
  });

  it('the alert rules cover no snapshot, stale source, deny spike, decision-log drops, on exported series', async () => {
    const rules = parse(await readFile(path.join(GRAFANA, 'gatehouse-alerts.yaml'), 'utf8')) as {
      groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
    };
    const all = rules.groups.flatMap((group) => group.rules);
    expect(all.map((rule) => rule.alert)).toEqual(
      expect.arrayContaining([
        'GatehouseNoSnapshot',
        'GatehouseSourceStale',
        'GatehouseDenyRateSpike',
        'GatehouseDecisionLogDrops',
      ]),
    );
    const used = seriesNames(all.map((rule) => rule.expr).join('\n'));
    expect(used).toContain('gatehouse_decision_logs_dropped_total');
    expect([...used].filter((name) => !names.has(name))).toEqual([]);
  });

  it('a made-up series is caught', () => {
    expect(names.has('gatehouse_made_up_total')).toBe(false);
    expect(names.has('gatehouse_snapshot_active')).toBe(true);
  });
});
