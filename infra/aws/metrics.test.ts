import { type Server, type Socket, createServer } from 'node:net';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FailureRatioPublisher,
  type ProbeCounts,
  failureRatioData,
  stopAlarmInput,
  stopAlarmName,
} from './metrics.ts';

const AT = new Date('2026-01-01T00:00:05Z');
const counts = (c: Record<string, ProbeCounts>) => new Map(Object.entries(c));

describe('the failure ratio', () => {
  it("each probe's (fail + unknown) / completed, and the run's series: the worst probe", () => {
    const data = failureRatioData(
      'r1',
      counts({
        'redis-writer': { ok: 3, fail: 1, unknown: 0 },
        'pg-writer': { ok: 1, fail: 1, unknown: 2 },
        idle: { ok: 0, fail: 0, unknown: 0 },
      }),
      AT,
    );
    expect(data.map((d) => [d.Dimensions!.map((x) => `${x.Name}=${x.Value}`).join(','), d.Value])).toEqual([
      ['RunId=r1', 0.75],
      ['RunId=r1,Probe=pg-writer', 0.75],
      ['RunId=r1,Probe=redis-writer', 0.25],
    ]);
    expect(data[0]).toEqual({
      MetricName: 'ProbeFailureRatio',
      Dimensions: [{ Name: 'RunId', Value: 'r1' }],
      Timestamp: AT,
      Value: 0.75,
      Unit: 'None',
      StorageResolution: 1,
    });
  });

  it("with nothing completed, the run's series is a heartbeat of 0", () => {
    expect(failureRatioData('r1', new Map(), AT).map((d) => d.Value)).toEqual([0]);
  });
});

describe('the stop alarm', () => {
  it('watches the run series: above 0.5 for six 10-second periods, missing data breaching, tagged with the run', () => {
    expect(stopAlarmName('3f9a1c07')).toBe('chaos-3f9a1c07-probe-failures');
    expect(stopAlarmInput('3f9a1c07', { scenario: 'redis-head-kill' })).toEqual({
      AlarmName: 'chaos-3f9a1c07-probe-failures',
      AlarmDescription:
        "Chaos run 3f9a1c07: its probes' writes have failed (ratio > 0.5) for 60 s, or the harness stopped reporting. An FIS stop condition.",
      Namespace: 'ChaosHarness',
      MetricName: 'ProbeFailureRatio',
      Dimensions: [{ Name: 'RunId', Value: '3f9a1c07' }],
      Statistic: 'Maximum',
      Period: 10,
      EvaluationPeriods: 6,
      DatapointsToAlarm: 6,
      Threshold: 0.5,
      ComparisonOperator: 'GreaterThanThreshold',
      TreatMissingData: 'breaching',
      ActionsEnabled: false,
      Tags: [
        { Key: 'chaos:run', Value: '3f9a1c07' },
        { Key: 'chaos:stack', Value: 'redis-head-kill' },
      ],
    });
  });

  it('refuses what CloudWatch would', () => {
    expect(() => stopAlarmInput('r', { periodSeconds: 15 })).toThrow(
      "a stop alarm's period is 10, 20, 30 or a multiple of 60 seconds, not 15",
    );
    expect(() => stopAlarmInput('r', { threshold: 1 })).toThrow(
      /threshold is a failure ratio in \[0, 1\), not 1/,
    );
    expect(() => stopAlarmInput('r', { periodSeconds: 3600, evaluationPeriods: 25 })).toThrow(
      /at most a day/,
    );
    expect(stopAlarmInput('r', { periodSeconds: 120, evaluationPeriods: 3, threshold: 0.9 })).toMatchObject({
      Period: 120,
      EvaluationPeriods: 3,
      Threshold: 0.9,
    });
  });
});

describe('the publisher never blocks the run nor throws', () => {
  // A server that takes connections and never answers, and a port where nothing listens.
  let silent: Server;
  let silentPort = 0;
  const sockets: Socket[] = [];
  beforeAll(async () => {
    silent = createServer((s) => {
      sockets.push(s);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    silentPort = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => silent.close(r));
  });

  const client = (port: number) =>
    new CloudWatchClient({
      region: 'eu-west-1',
      endpoint: `http://127.0.0.1:${port}`,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      maxAttempts: 1,
    });

  it('a put that fails is counted and reported', async () => {
    const cw = client(1);
    const failures: string[] = [];
    const p = new FailureRatioPublisher({ runId: 'r1', client: cw, onFailure: (m) => failures.push(m) });
    p.record({ probe: 'w', outcome: 'ok' });
    p.record({ probe: 'w', outcome: 'fail' });
    await expect(p.flush()).resolves.toBeUndefined();
    expect(p.report()).toMatchObject({ puts: 0, failedPuts: 1, data: 0, droppedData: 2 });
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/^CloudWatch PutMetricData \(2 data of run r1\) failed: .*ECONNREFUSED/);
    expect(p.report().lastError).toBe(failures[0]);
    cw.destroy();
  });

  it('a put that does not answer gives up after its time limit; meanwhile the counts run on', async () => {
    const cw = client(silentPort);
    const p = new FailureRatioPublisher({ runId: 'r1', client: cw, timeoutMs: 200 });
    p.record({ probe: 'w', outcome: 'unknown' });
    const t0 = Date.now();
    const first = p.flush();
    // A second interval while the first put hangs: nothing sent, the counts carry on.
    p.record({ probe: 'w', outcome: 'ok' });
    await p.flush();
    expect(Date.now() - t0).toBeLessThan(100);
    await first;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(p.report()).toMatchObject({ failedPuts: 1, droppedData: 2 });
    expect(p.report().lastError).toBe(
      'CloudWatch PutMetricData (2 data of run r1) failed: no answer within 200 ms',
    );
    const report = await p.stop();
    // stop() put the ok left over (and it timed out too).
    expect(report).toMatchObject({ failedPuts: 2, droppedData: 4 });
    cw.destroy();
  });

  it('an operation the probe cut short itself is not counted; a reporter that throws is ignored', async () => {
    const cw = client(1);
    const p = new FailureRatioPublisher({
      runId: 'r1',
      client: cw,
      onFailure: () => {
        throw new Error('boom');
      },
    });
    p.record({ probe: 'w', outcome: 'unknown', cutByProbe: true });
    await p.flush();
    // Only the heartbeat: the cut operation counted for nothing.
    expect(p.report()).toMatchObject({ failedPuts: 1, droppedData: 1 });
    cw.destroy();
  });
});
