import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { ExpectationResult, RunResult } from '../core/result.ts';
import {
  type Movement,
  type NotRun,
  type ReportFormat,
  type ReportInput,
  type RunInput,
  brokenExpectations,
  escapeXml,
  faultLabel,
  formatMs,
  headline,
  titleOf,
  whyBroken,
} from './format.ts';
import { formatSummary } from './summary.ts';

/**
 * JUnit XML, the format every CI reads without plugins. One `<testsuite>` per scenario run (and
 * per scenario of a suite that never ran), so a CI's test tab groups by run; inside it, one
 * `<testcase>` for the run itself (`run completes`: an `<error>` with its code when it did not
 * complete, the summary as its output) and one per expectation judged (a `<failure>` with the
 * measured figure and the bound when it broke), then, on a game day, one per figure compared
 * with the baseline (a `<failure>` when it regressed). A CI then shows which expectation broke,
 * not only which scenario. Counts follow Ant's meaning: `failures` and `errors` are test cases.
 * `reports/junit.xsd` is the schema it keeps to.
 */
export function junitXml(input: ReportInput): string {
  const name = titleOf(input);
  const pkg = `chaos.${input.suite?.name ?? 'run'}`;
  const host = escapeXml(hostname());
  const shared = [
    ['suite.file', input.suite?.file],
    ['suite.id', input.suite?.id],
    ['timestamp.zone', 'UTC'],
  ] as const;
  const suites = [
    ...input.runs.map((run) => runSuite(run, pkg)),
    ...(input.suite?.notRun ?? []).map((s) => notRunSuite(s, pkg, input.suite!.startedAt)),
  ];
  const total = (k: 'tests' | 'failures' | 'errors' | 'skipped') => suites.reduce((n, s) => n + s[k], 0);
  const time = seconds(
    input.suite?.durationMs ?? input.runs.reduce((sum, r) => sum + (r.result.durationMs ?? 0), 0),
  );
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${escapeXml(name)}" tests="${total('tests')}" failures="${total('failures')}" errors="${total('errors')}" skipped="${total('skipped')}" time="${time}">`,
    ...suites.map((s, i) =>
      [
        `  <testsuite name="${escapeXml(s.name)}" tests="${s.tests}" failures="${s.failures}" errors="${s.errors}" skipped="${s.skipped}" time="${s.time}" timestamp="${timestamp(s.started)}" hostname="${host}" id="${i}" package="${escapeXml(pkg)}">`,
        '    <properties>',
        ...[...s.properties, ...shared]
          .filter((p): p is readonly [string, string] => typeof p[1] === 'string')
          .map(([k, v]) => `      <property name="${escapeXml(k)}" value="${escapeXml(v)}"/>`),
        '    </properties>',
        ...s.cases.map((c) => c.xml),
        '    <system-out/>',
        '    <system-err/>',
        '  </testsuite>',
      ].join('\n'),
    ),
    '</testsuites>',
    '',
  ].join('\n');
}

type CaseKind = 'pass' | 'failure' | 'error' | 'skipped';

interface Case {
  name: string;
  kind: CaseKind;
  xml: string;
}

interface Suite {
  name: string;
  started: string;
  time: string;
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  properties: (readonly [string, string | undefined])[];
  cases: Case[];
}

function suiteOf(
  name: string,
  started: string,
  time: string,
  properties: Suite['properties'],
  cases: Case[],
): Suite {
  const count = (k: CaseKind) => cases.filter((c) => c.kind === k).length;
  return {
    name,
    started,
    time,
    tests: cases.length,
    failures: count('failure'),
    errors: count('error'),
    skipped: count('skipped'),
    properties,
    cases,
  };
}

/** One testcase: its name, what went wrong (if anything), its properties and output. */
function testcase(
  name: string,
  classname: string,
  o: {
    time?: number;
    kind?: CaseKind;
    message?: string;
    type?: string;
    detail?: string;
    properties?: [string, string][];
    out?: string;
  },
): Case {
  const kind = o.kind ?? 'pass';
  const props = o.properties?.length
    ? [
        '      <properties>',
        ...o.properties.map(([k, v]) => `        <property name="${escapeXml(k)}" value="${escapeXml(v)}"/>`),
        '      </properties>',
      ]
    : [];
  const problem =
    kind === 'skipped'
      ? [`      <skipped message="${escapeXml(o.message ?? '')}"/>`]
      : kind === 'failure' || kind === 'error'
        ? [
            `      <${kind} message="${escapeXml(o.message ?? '')}" type="${escapeXml(o.type ?? kind)}">${escapeXml(o.detail ?? o.message ?? '')}</${kind}>`,
          ]
        : [];
  const xml = [
    `    <testcase name="${escapeXml(name)}" classname="${escapeXml(classname)}" time="${seconds(o.time ?? 0)}">`,
    ...props,
    ...problem,
    ...(o.out === undefined ? [] : [`      <system-out>${escapeXml(o.out)}</system-out>`]),
    '    </testcase>',
  ].join('\n');
  return { name, kind, xml };
}

/** The testcase name of an expectation: its fault, its name, whose it is when the run has several. */
function expectationName(r: RunResult, e: ExpectationResult): string {
  const many = r.probes.length > 1 || r.systems.length > 1;
  const who = many ? [e.scope.probe, r.systems.length > 1 ? e.scope.system : undefined].filter(Boolean) : [];
  return `${e.scope.fault !== undefined ? `${faultLabel(e.scope.fault)} ` : ''}${e.name}${who.length ? ` (${who.join(', ')})` : ''}`;
}

/** Names must differ within a testsuite, or a CI folds two cases into one. */
function unique(cases: Case[]): Case[] {
  const seen = new Map<string, number>();
  return cases.map((c) => {
    const n = (seen.get(c.name) ?? 0) + 1;
    seen.set(c.name, n);
    if (n === 1) return c;
    const name = `${c.name} #${n}`;
    return { ...c, name, xml: c.xml.replace(`name="${escapeXml(c.name)}"`, `name="${escapeXml(name)}"`) };
  });
}

function runSuite(run: RunInput, pkg: string): Suite {
  const r = run.result;
  const classname = `${pkg}.${r.scenario.name}`;
  const broken = whyBroken(r);
  const h = headline(r);
  const cases: Case[] = [];
  const judged = !broken ? r.expectations : [];
  const unjudged =
    !broken && r.verdict !== 'pass' && !judged.some((e) => e.verdict !== 'pass')
      ? (r.checkerError ?? `the verdict is ${r.verdict} and no expectation says why`)
      : null;
  cases.push(
    testcase('run completes', classname, {
      time: r.durationMs,
      ...(broken
        ? {
            kind: 'error' as const,
            message: broken,
            type: r.error?.code ?? r.status.toUpperCase(),
            detail: errorDetail(r),
          }
        : unjudged
          ? { kind: 'failure' as const, message: unjudged, type: 'verdict' }
          : {}),
      properties: [
        ['status', r.status],
        ['verdict', r.verdict],
      ],
      out: formatSummary(r, false),
    }),
  );
  for (const e of judged) {
    // The message is the line every other report prints for a broken expectation.
    const line = brokenExpectations({
      ...r,
      expectations: [{ ...e, verdict: e.verdict === 'pass' ? 'fail' : e.verdict }],
    })[0]!;
    const props: [string, string][] = [
      ...(e.scope.fault !== undefined ? [['fault', faultLabel(e.scope.fault)] as [string, string]] : []),
      ...(e.scope.probe ? [['probe', e.scope.probe] as [string, string]] : []),
      ...(e.scope.system ? [['system', e.scope.system] as [string, string]] : []),
      ['threshold', String(e.threshold)],
      ['value', e.value === null ? 'none' : String(e.value)],
      ['verdict', e.verdict],
    ];
    const words = `measured: ${e.actual}\nexpected: ${e.expected}`;
    cases.push(
      testcase(expectationName(r, e), classname, {
        ...(e.verdict === 'pass'
          ? {}
          : {
              kind: 'failure' as const,
              message: line,
              type: 'expectation',
              detail: `${words}${e.verdict === 'unknown' ? '\nthe evidence allowed no verdict' : ''}`,
            }),
        properties: props,
        out: words,
      }),
    );
  }
  for (const m of run.regressions ?? []) cases.push(movementCase(m, classname));
  const properties: Suite['properties'] = [
    ['runId', r.runId],
    ['status', r.status],
    ['verdict', r.verdict],
    ['failover', formatMs(h.failoverMs)],
    ['unavailability', formatMs(h.unavailabilityMs)],
    ['lostWrites', h.lostWrites === null ? 'unknown' : String(h.lostWrites)],
    ['runDir', r.runDir],
    ['scenario.file', r.scenario.file],
    ['harness.version', r.harness.version],
    ['harness.gitRevision', r.harness.gitRevision],
    ['provider', r.provider],
  ];
  return suiteOf(r.scenario.name, r.startedAt, seconds(r.durationMs), properties, unique(cases));
}

/** A figure compared with the baseline's: a failure when it regressed. */
function movementCase(m: Movement, classname: string): Case {
  const text = `regression: ${m.scope ? `${m.scope} ` : ''}${m.text}`;
  return testcase(`no regression: ${m.scope ? `${m.scope} ` : ''}${m.figure}`, classname, {
    ...(m.regression ? { kind: 'failure' as const, message: text, type: 'regression' } : {}),
    out: m.text,
  });
}

/** A suite's scenario that never ran: a testsuite of one case, skipped or in error. */
function notRunSuite(s: NotRun, pkg: string, started: string): Suite {
  const c = testcase('run completes', `${pkg}.${s.scenario}`, {
    kind: s.kind === 'skipped' ? 'skipped' : 'error',
    message: s.reason,
    type: s.code ?? 'NOT_RUN',
  });
  return suiteOf(s.scenario, started, seconds(0), [['status', 'not run']], [c]);
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
