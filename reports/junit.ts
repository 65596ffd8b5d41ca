import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { RunResult } from '../core/result.ts';
import {
  type ReportFormat,
  type ReportInput,
  type RunInput,
  brokenExpectations,
  escapeXml,
  formatMs,
  headline,
  titleOf,
  whyBroken,
} from './format.ts';
import { formatSummary } from './summary.ts';

/**
 * JUnit XML, the format every CI reads without plugins: one `<testcase>` per scenario run, one
 * `<failure>` per broken expectation (the measured figure and the bound in its message) and
 * per regression, one `<error>` when the run did not complete (infrastructure, interrupted,
 * died), `<skipped>` for a suite's scenarios that never ran. Counts follow Ant's meaning:
 * `failures` and `errors` are test cases. `reports/junit.xsd` is the schema it keeps to.
 */
export function junitXml(input: ReportInput): string {
  const name = titleOf(input);
  const classname = `chaos.${input.suite?.name ?? 'run'}`;
  const cases = input.runs.map((run) => testcase(run, classname));
  const notRun = input.suite?.notRun ?? [];
  const skipped = notRun.map(
    (s) =>
      `    <testcase name="${escapeXml(s.scenario)}" classname="${escapeXml(classname)}" time="0">\n` +
      (s.kind === 'skipped'
        ? `      <skipped message="${escapeXml(s.reason)}"/>\n`
        : `      <error message="${escapeXml(s.reason)}" type="${escapeXml(s.code ?? 'NOT_RUN')}">${escapeXml(s.reason)}</error>\n`) +
      '    </testcase>',
  );
  const tests = cases.length + skipped.length;
  const failures = cases.filter((c) => c.kind === 'failure').length;
  const errors =
    cases.filter((c) => c.kind === 'error').length + notRun.filter((s) => s.kind === 'error').length;
  const time = seconds(
    input.suite?.durationMs ?? input.runs.reduce((sum, r) => sum + (r.result.durationMs ?? 0), 0),
  );
  const started = input.suite?.startedAt ?? input.runs[0]?.result.startedAt ?? new Date().toISOString();
  const first = input.runs[0]?.result;
  const properties = [
    ['harness.version', first?.harness.version],
    ['harness.gitRevision', first?.harness.gitRevision],
    ['provider', first?.provider],
    ['suite.file', input.suite?.file],
    ['suite.id', input.suite?.id],
    ['timestamp.zone', 'UTC'],
  ]
    .filter((p): p is [string, string] => typeof p[1] === 'string')
    .map(([k, v]) => `      <property name="${escapeXml(k)}" value="${escapeXml(v)}"/>`);
  const counts = `tests="${tests}" failures="${failures}" errors="${errors}" skipped="${notRun.filter((s) => s.kind === 'skipped').length}" time="${time}"`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${escapeXml(name)}" ${counts}>`,
    `  <testsuite name="${escapeXml(name)}" ${counts} timestamp="${timestamp(started)}" hostname="${escapeXml(hostname())}" id="0" package="${escapeXml(classname)}">`,
    '    <properties>',
    ...properties,
    '    </properties>',
    ...cases.map((c) => c.xml),
    ...skipped,
    '    <system-out/>',
    '    <system-err/>',
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

function testcase(run: RunInput, classname: string): { xml: string; kind: 'pass' | 'failure' | 'error' } {
  const r = run.result;
  const lines: string[] = [];
  const broken = whyBroken(r);
  let kind: 'pass' | 'failure' | 'error' = 'pass';
  if (broken) {
    kind = 'error';
    const type = r.error?.code ?? r.status.toUpperCase();
    lines.push(
      `      <error message="${escapeXml(broken)}" type="${escapeXml(type)}">${escapeXml(errorDetail(r))}</error>`,
    );
  } else {
    const failures = [
      ...brokenExpectations(r).map((m) => ({ m, type: 'expectation' })),
      ...(run.regressions ?? [])
        .filter((x) => x.regression)
        .map((x) => ({ m: `regression: ${x.scope ? `${x.scope} ` : ''}${x.text}`, type: 'regression' })),
    ];
    if (failures.length) kind = 'failure';
    for (const f of failures)
      lines.push(`      <failure message="${escapeXml(f.m)}" type="${f.type}">${escapeXml(f.m)}</failure>`);
  }
  const h = headline(r);
  const props = [
    ['runId', r.runId],
    ['status', r.status],
    ['verdict', r.verdict],
    ['failover', formatMs(h.failoverMs)],
    ['unavailability', formatMs(h.unavailabilityMs)],
    ['lostWrites', h.lostWrites === null ? 'unknown' : String(h.lostWrites)],
    ['runDir', r.runDir],
  ].map(([k, v]) => `        <property name="${k}" value="${escapeXml(String(v))}"/>`);
  const xml = [
    `    <testcase name="${escapeXml(r.scenario.name)}" classname="${escapeXml(classname)}" time="${seconds(r.durationMs)}">`,
    '      <properties>',
    ...props,
    '      </properties>',
    ...lines,
    `      <system-out>${escapeXml(formatSummary(r, false))}</system-out>`,
    '    </testcase>',
  ].join('\n');
  return { xml, kind };
}

function errorDetail(r: RunResult): string {
  const phases = r.phases
    .filter((p) => p.status === 'failed')
    .map((p) => `${p.name} failed: ${p.error ?? ''}`);
  return [whyBroken(r), ...phases, `run folder: ${r.runDir}`].filter(Boolean).join('\n');
}

const seconds = (ms: number) => (Math.max(0, ms) / 1000).toFixed(3);

/** Ant's schema wants `yyyy-mm-ddThh:mm:ss` without a zone: UTC, said in a property. */
function timestamp(iso: string): string {
  const d = new Date(iso);
  return (Number.isNaN(d.getTime()) ? new Date() : d).toISOString().slice(0, 19);
}

export const junitFormat: ReportFormat = {
  name: 'junit',
  fileName: 'junit.xml',
  isFolder: false,
  render: junitXml,
  write(input, out) {
    writeFileSync(out, junitXml(input));
  },
};
