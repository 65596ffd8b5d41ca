import { describe, expect, it } from 'vitest';
import { validateJunit, xmllintMissing } from '../test/fixtures/junit-schema.ts';
import { syntheticRun } from '../test/fixtures/results.ts';
import type { ReportInput, SuiteInfo } from './format.ts';
import { junitXml } from './junit.ts';

const suite: SuiteInfo = {
  name: 'nightly',
  file: 'scenarios/suites/nightly.yaml',
  id: 'feedbeef',
  startedAt: '2026-11-20T02:00:00.000Z',
  durationMs: 61_000,
  dir: '/runs/suites/nightly/x',
  status: 'completed',
  exitCode: 1,
  regression: { boundPct: 25, baseline: null, note: 'no earlier passing run' },
  notRun: [],
};

/** A pass, a run that broke two expectations, one the infrastructure broke, one with a regression. */
function nightly(): ReportInput {
  return {
    suite,
    runs: [
      { result: syntheticRun({ scenario: 'redis-head-kill' }), dir: null },
      { result: syntheticRun({ scenario: 'redis-head-pause', failoverMs: 3200, lost: 3 }), dir: null },
      { result: syntheticRun({ scenario: 'pg-primary-kill', status: 'error' }), dir: null },
      {
        result: syntheticRun({ scenario: 'redis-az-power' }),
        dir: null,
        regressions: [
          {
            figure: 'failover time',
            scope: 'fault #1 (writes)',
            unit: 'ms',
            before: 1000,
            after: 1500,
            changePct: 50,
            regression: true,
            text: 'failover time 1.00 s -> 1.50 s, +50 %, above the 25 % regression bound',
          },
        ],
      },
    ],
  };
}

describe('JUnit XML', () => {
  it('has one testsuite per run, one testcase per expectation, and Ant counts of failed and broken ones', () => {
    const input = nightly();
    const xml = junitXml(input);
    const suites = [
      ...xml.matchAll(/<testsuite name="([^"]*)" tests="(\d+)" failures="(\d+)" errors="(\d+)"/g),
    ];
    expect(suites.map((m) => m[1])).toEqual([
      'redis-head-kill',
      'redis-head-pause',
      'pg-primary-kill',
      'redis-az-power',
    ]);
    // a run: `run completes`, then each expectation judged, then each figure compared with the baseline
    const judged = input.runs[0]!.result.expectations.length;
    expect(judged).toBeGreaterThan(4);
    expect(suites.map((m) => m.slice(2).map(Number))).toEqual([
      [1 + judged, 0, 0],
      [1 + judged, 2, 0],
      [1, 0, 1], // not judged: only the run, in error
      [1 + judged + 1, 1, 0],
    ]);
    const tests = 1 + judged + (1 + judged) + 1 + (2 + judged);
    expect(xml).toMatch(
      new RegExp(
        `<testsuites name="nightly" tests="${tests}" failures="3" errors="1" skipped="0" time="61.000">`,
      ),
    );
    expect(xml).toMatch(
      /<testsuite name="redis-head-kill" [^>]* time="10.000" timestamp="2026-11-20T02:00:00" hostname="[^"]+" id="0" package="chaos.nightly">/,
    );
    const head = xml.slice(
      xml.indexOf('<testsuite name="redis-head-kill"'),
      xml.indexOf('<testsuite name="redis-head-pause"'),
    );
    const names = [...head.matchAll(/<testcase name="([^"]*)" classname="([^"]*)"/g)].map((m) => [
      m[1],
      m[2],
    ]);
    expect(names).toEqual(
      [
        'run completes',
        ...input.runs[0]!.result.expectations.map(
          (e) => `${e.scope.fault === undefined ? '' : `fault #${e.scope.fault + 1} `}${e.name}`,
        ),
      ].map((n) => [n, 'chaos.nightly.redis-head-kill']),
    );
    expect(names.map((n) => n[0])).toContain('fault #1 failover time');
    // a passing expectation says what was measured against what
    expect(head).toMatch(
      /<testcase name="fault #1 failover time"[\s\S]*?<property name="threshold" value="3000"\/>[\s\S]*?<system-out>measured: \d+ ms\nexpected: &lt;= 3000 ms<\/system-out>/,
    );
    // the run's own case carries the summary
    expect(head).toMatch(
      /<testcase name="run completes" classname="chaos.nightly.redis-head-kill" time="10.000">/,
    );
    expect(head).toContain('<system-out>redis-head-kill  PASS  run abcd1234');
  });

  it('names whose expectation it is when a run has several probes, and keeps names unique', () => {
    const r = syntheticRun();
    r.probes.push({ ...r.probes[0]!, name: 'reads' });
    r.expectations.push({ ...r.expectations[0]!, scope: { fault: 0, probe: 'reads' } });
    r.expectations.push({ ...r.expectations[0]! });
    const xml = junitXml({ runs: [{ result: r, dir: null }] });
    const names = [...xml.matchAll(/<testcase name="([^"]*)"/g)].map((m) => m[1]);
    expect(names).toContain('fault #1 recovered (writes)');
    expect(names).toContain('fault #1 recovered (reads)');
    expect(names).toContain('fault #1 recovered (writes) #2');
    expect(new Set(names).size).toBe(names.length);
  });

  it('carries one failure per broken expectation, with the measured figure and the bound', () => {
    const xml = junitXml(nightly());
    const pause = xml.slice(xml.indexOf('name="redis-head-pause"'), xml.indexOf('name="pg-primary-kill"'));
    const failures = [...pause.matchAll(/<failure message="([^"]*)" type="expectation">/g)].map((m) => m[1]);
    expect(failures).toEqual([
      'fault #1 failover time: 3201 ms, expected &lt;= 3000 ms',
      'lost acknowledged writes: 3, expected &lt;= 0',
    ]);
  });

  it('carries writes by a former leader and failed writes read back as failures of their own', () => {
    const r = syntheticRun({ scenario: 'redis-head-partition', formerLeaderWrites: 2, failedButPresent: 1 });
    const xml = junitXml({ runs: [{ result: r, dir: null }] });
    const failures = [...xml.matchAll(/<failure message="([^"]*)" type="expectation">/g)].map((m) => m[1]);
    expect(failures).toEqual([
      'failed writes stay absent: 1 reported failed but read back: seq 350, expected &lt;= 0 writes reported failed in the read-back',
      'one leader at a time: 2 acknowledged by a former leader: redis-a 2 (seq 351, 352), expected &lt;= 0 writes acknowledged by a node after the redis-head record moved away from it',
    ]);
    // Passing, they are no failure.
    expect(junitXml({ runs: [{ result: syntheticRun(), dir: null }] })).not.toContain('<failure');
  });

  it('reports a broken run as an error with its code, a regression as a failure', () => {
    const xml = junitXml(nightly());
    expect(xml).toMatch(
      /<error message="error: error\[PROVISION_FAILED\] redis-b did not start \(see its log\)" type="PROVISION_FAILED">/,
    );
    expect(xml).toContain(
      '<failure message="regression: fault #1 (writes) failover time 1.00 s -&gt; 1.50 s, +50 %, above the 25 % regression bound" type="regression">',
    );
    expect(xml).toContain(
      '<testcase name="no regression: fault #1 (writes) failover time" classname="chaos.nightly.redis-az-power"',
    );
    // a broken run is not judged: its expectations are no test cases
    const pg = xml.slice(
      xml.indexOf('<testsuite name="pg-primary-kill"'),
      xml.indexOf('<testsuite name="redis-az-power"'),
    );
    expect(pg.match(/<testcase /g)).toHaveLength(1);
  });

  it('lists the scenarios an interrupted suite never ran as skipped', () => {
    const input = nightly();
    input.suite = {
      ...suite,
      status: 'interrupted',
      notRun: [
        {
          scenario: 'stack-head-kill',
          kind: 'skipped',
          reason: 'not run: the suite was interrupted before it',
        },
      ],
    };
    const xml = junitXml(input);
    expect(xml).toMatch(/<testsuites name="nightly" tests="\d+" failures="3" errors="1" skipped="1"/);
    expect(xml).toMatch(
      /<testsuite name="stack-head-kill" tests="1" failures="0" errors="0" skipped="1"[^>]*>[\s\S]*?<testcase name="run completes" classname="chaos.nightly.stack-head-kill" time="0.000">\s*<skipped message="not run: the suite was interrupted before it"\/>/,
    );
  });

  it('escapes what XML cannot hold and drops control characters', () => {
    const r = syntheticRun();
    r.scenario.name = 'a<b>&"c"\u001b[31m';
    const xml = junitXml({ runs: [{ result: r, dir: null }] });
    expect(xml).toContain('name="a&lt;b&gt;&amp;&quot;c&quot;[31m"');
    expect(xml).not.toContain('\u001b');
  });

  it.skipIf(Boolean(xmllintMissing))(
    `validates against reports/junit.xsd${xmllintMissing ? ` (skipped: ${xmllintMissing})` : ''}`,
    () => {
      const input = nightly();
      input.suite = {
        ...suite,
        notRun: [
          {
            scenario: 'stack-head-kill',
            kind: 'skipped',
            reason: 'not run: the suite was interrupted before it',
          },
          {
            scenario: 'pg-x',
            kind: 'error',
            reason: 'error[DOCKER_UNREACHABLE]: no engine',
            code: 'DOCKER_UNREACHABLE',
          },
        ],
      };
      for (const doc of [junitXml(input), junitXml({ runs: [input.runs[0]!] })]) {
        const v = validateJunit(doc);
        expect(v.ok, v.output).toBe(true);
      }
      // and the schema is not a rubber stamp
      const broken = validateJunit(junitXml(input).replace(/ classname="[^"]*"/, ''));
      expect(broken.ok).toBe(false);
      expect(broken.output).toMatch(/classname/);
    },
  );
});
