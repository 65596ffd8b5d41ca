import {
  CloudWatchClient,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  type MetricDatum,
  PutMetricAlarmCommand,
  type PutMetricAlarmCommandInput,
  PutMetricDataCommand,
} from '@aws-sdk/client-cloudwatch';
import { InfraError, errorMessage } from '../../core/errors.ts';
import type { Op } from '../../core/history.ts';
import { awsError, clientConfig } from './aws-clients.ts';
import { TAGS, alarmArnProblem } from './fis-plan.ts';

/**
 * The probes' health in CloudWatch, and the alarm over it that FIS experiments stop on.
 *
 * Every `intervalMs` (5 s) the harness puts, in one batched PutMetricData, for each probe that
 * completed operations in the interval, `ChaosHarness / ProbeFailureRatio` with dimensions
 * `RunId` and `Probe`: (fail + unknown) / completed, and the run's own series (dimension `RunId`
 * alone): the worst probe's ratio, or 0 when no probe completed anything (the harness is alive:
 * the series is its heartbeat). High-resolution (StorageResolution 1), so an alarm can look at
 * 10-second periods.
 *
 * The stop alarm (`chaos-<run id>-probe-failures`, tagged chaos:run) watches the run's series: in
 * ALARM when its maximum is above `threshold` (0.5) in every one of `evaluationPeriods` (6)
 * periods of `periodSeconds` (10 s): writes have been failing for a minute, far longer than any
 * failover the scenarios measure, so FIS stops the experiment (and reverts what it can). Missing
 * data is breaching: a harness that died or lost its network stops publishing, and the
 * experiment is stopped too. CloudWatch alarms cannot watch a SEARCH over every probe's series,
 * which is why the run has its own series. Its ARN goes into the FIS templates' stopConditions.
 *
 * Publishing never blocks the run and never throws: a put that fails or does not answer within
 * `timeoutMs` is counted and its message kept for the run's report; its data is dropped. A put
 * still in flight when the next interval comes lets the counts run on into that one.
 */

export const METRIC_NAMESPACE = 'ChaosHarness';
export const FAILURE_RATIO_METRIC = 'ProbeFailureRatio';
export const RUN_DIMENSION = 'RunId';
export const PROBE_DIMENSION = 'Probe';
/** PutMetricData takes at most 1000 data in one call; this stays well under it (and the 1 MB limit). */
const DATA_PER_PUT = 500;

export interface ProbeCounts {
  ok: number;
  fail: number;
  unknown: number;
}

/** The data of one interval: each probe's failure ratio, and the run's (the worst probe's, or 0). */
export function failureRatioData(
  runId: string,
  counts: ReadonlyMap<string, ProbeCounts>,
  at: Date,
): MetricDatum[] {
  const datum = (value: number, probe?: string): MetricDatum => ({
    MetricName: FAILURE_RATIO_METRIC,
    Dimensions: [
      { Name: RUN_DIMENSION, Value: runId },
      ...(probe !== undefined ? [{ Name: PROBE_DIMENSION, Value: probe }] : []),
    ],
    Timestamp: at,
    Value: value,
    Unit: 'None',
    StorageResolution: 1,
  });
  const perProbe: MetricDatum[] = [];
  let worst = 0;
  for (const [probe, c] of [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const total = c.ok + c.fail + c.unknown;
    if (total === 0) continue;
    const ratio = (c.fail + c.unknown) / total;
    worst = Math.max(worst, ratio);
    perProbe.push(datum(ratio, probe));
  }
  return [datum(worst), ...perProbe];
}

export interface PublisherReport {
  /** PutMetricData calls that succeeded / failed. */
  puts: number;
  failedPuts: number;
  /** Data put / dropped with a failed put. */
  data: number;
  droppedData: number;
  /** The last failure's message, if any. */
  lastError?: string;
}

export interface PublisherOptions {
  runId: string;
  client: Pick<CloudWatchClient, 'send'>;
  /** Default 5000 ms. */
  intervalMs?: number;
  /** A put's time limit; default the interval. */
  timeoutMs?: number;
  now?: () => Date;
  /** Told of each failed put, once per put (a warning line on the run, not an error). */
  onFailure?: (message: string) => void;
}

export class FailureRatioPublisher {
  private counts = new Map<string, ProbeCounts>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private inFlight: Promise<void> | undefined;
  private readonly stats: PublisherReport = { puts: 0, failedPuts: 0, data: 0, droppedData: 0 };
  private readonly intervalMs: number;
  private readonly timeoutMs: number;

  constructor(private readonly opts: PublisherOptions) {
    this.intervalMs = opts.intervalMs ?? 5000;
    this.timeoutMs = opts.timeoutMs ?? this.intervalMs;
  }

  /** Counts a completed operation (one cut short by the probe's own stop is not the system's). */
  record(op: Pick<Op, 'probe' | 'outcome'> & { cutByProbe?: true | undefined }): void {
    if (op.cutByProbe) return;
    let c = this.counts.get(op.probe);
    if (!c) {
      c = { ok: 0, fail: 0, unknown: 0 };
      this.counts.set(op.probe, c);
    }
    c[op.outcome]++;
  }

  /**
   * Puts now (a heartbeat of 0 when nothing was counted yet) and every `intervalMs` until
   * `stop()`. Start it before the stop alarm is created: the alarm treats missing data as
   * breaching, and a minute without data puts it in ALARM (FIS will not start an experiment then).
   */
  start(): void {
    if (this.timer) return;
    void this.flush();
    this.timer = setInterval(() => {
      void this.flush();
    }, this.intervalMs);
    this.timer.unref?.();
  }

  /**
   * Puts what was counted since the last put. Never rejects; returns at once (having done
   * nothing) while an earlier put is still in flight, so the counts carry on into the next.
   */
  flush(): Promise<void> {
    if (this.inFlight) return Promise.resolve();
    const counts = this.counts;
    this.counts = new Map();
    const data = failureRatioData(this.opts.runId, counts, this.opts.now?.() ?? new Date());
    this.inFlight = this.put(data).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Stops the timer, waits for a put in flight, puts what is left; what happened. */
  async stop(): Promise<PublisherReport> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
    if ([...this.counts.values()].some((c) => c.ok + c.fail + c.unknown > 0)) await this.flush();
    return this.report();
  }

  report(): PublisherReport {
    return { ...this.stats };
  }

  private async put(data: MetricDatum[]): Promise<void> {
    for (let i = 0; i < data.length; i += DATA_PER_PUT) {
      const batch = data.slice(i, i + DATA_PER_PUT);
      try {
        await this.opts.client.send(
          new PutMetricDataCommand({ Namespace: METRIC_NAMESPACE, MetricData: batch }),
          {
            abortSignal: AbortSignal.timeout(this.timeoutMs),
          },
        );
        this.stats.puts++;
        this.stats.data += batch.length;
      } catch (err) {
        this.stats.failedPuts++;
        this.stats.droppedData += batch.length;
        const name = (err as { name?: string })?.name;
        const message = `CloudWatch PutMetricData (${batch.length} data of run ${this.opts.runId}) failed: ${
          name === 'TimeoutError' || name === 'AbortError'
            ? `no answer within ${this.timeoutMs} ms`
            : `${name ? `${name}: ` : ''}${errorMessage(err)}`
        }`;
        this.stats.lastError = message;
        try {
          this.opts.onFailure?.(message);
        } catch {
          // A reporter that throws must not stop the run either.
        }
      }
    }
  }
}

// --- The stop alarm --------------------------------------------------------------------------------

export interface StopAlarmOptions {
  /** The run's failure ratio above which a period breaches; default 0.5. */
  threshold?: number;
  /** 10, 20, 30 or a multiple of 60; default 10. */
  periodSeconds?: number;
  /** Default 6 (a minute of 10-second periods); every one must breach. */
  evaluationPeriods?: number;
  /** The scenario, for the chaos:stack tag. */
  scenario?: string;
}

/** The alarm's name: `chaos-<run id>-probe-failures`. */
export function stopAlarmName(runId: string): string {
  return `chaos-${runId}-probe-failures`;
}

/** The PutMetricAlarm input of a run's stop alarm; throws on a setting CloudWatch would refuse. */
export function stopAlarmInput(runId: string, opts: StopAlarmOptions = {}): PutMetricAlarmCommandInput {
  const threshold = opts.threshold ?? 0.5;
  const period = opts.periodSeconds ?? 10;
  const evaluations = opts.evaluationPeriods ?? 6;
  if (!(threshold >= 0 && threshold < 1))
    throw new InfraError(
      'BAD_STOP_ALARM',
      `a stop alarm's threshold is a failure ratio in [0, 1), not ${threshold}`,
    );
  if (!([10, 20, 30].includes(period) || (Number.isInteger(period) && period > 0 && period % 60 === 0)))
    throw new InfraError(
      'BAD_STOP_ALARM',
      `a stop alarm's period is 10, 20, 30 or a multiple of 60 seconds, not ${period}`,
    );
  if (!Number.isInteger(evaluations) || evaluations < 1 || evaluations * period > 86_400)
    throw new InfraError(
      'BAD_STOP_ALARM',
      `a stop alarm looks at 1 or more periods, at most a day in all: ${evaluations} of ${period} s is not`,
    );
  return {
    AlarmName: stopAlarmName(runId),
    AlarmDescription: `Chaos run ${runId}: its probes' writes have failed (ratio > ${threshold}) for ${evaluations * period} s, or the harness stopped reporting. An FIS stop condition.`,
    Namespace: METRIC_NAMESPACE,
    MetricName: FAILURE_RATIO_METRIC,
    Dimensions: [{ Name: RUN_DIMENSION, Value: runId }],
    Statistic: 'Maximum',
    Period: period,
    EvaluationPeriods: evaluations,
    DatapointsToAlarm: evaluations,
    Threshold: threshold,
    ComparisonOperator: 'GreaterThanThreshold',
    TreatMissingData: 'breaching',
    ActionsEnabled: false,
    Tags: [
      { Key: TAGS.run, Value: runId },
      ...(opts.scenario ? [{ Key: TAGS.stack, Value: opts.scenario }] : []),
    ],
  };
}

/** Creates (or updates) the run's stop alarm; its name and ARN, the ARN checked for FIS. */
export async function createStopAlarm(
  client: Pick<CloudWatchClient, 'send'>,
  runId: string,
  region: string,
  opts: StopAlarmOptions = {},
): Promise<{ name: string; arn: string }> {
  const input = stopAlarmInput(runId, opts);
  const name = input.AlarmName!;
  try {
    await client.send(new PutMetricAlarmCommand(input));
    const got = await client.send(
      new DescribeAlarmsCommand({ AlarmNames: [name], AlarmTypes: ['MetricAlarm'] }),
    );
    const arn = got.MetricAlarms?.find((a) => a.AlarmName === name)?.AlarmArn;
    if (!arn)
      throw new InfraError('NO_STOP_ALARM', `CloudWatch did not list alarm ${name} after creating it`);
    const problem = alarmArnProblem(arn, region);
    if (problem) throw new InfraError('NO_STOP_ALARM', `alarm ${name}'s ARN '${arn}' ${problem}`);
    return { name, arn };
  } catch (err) {
    throw awsError(`CloudWatch PutMetricAlarm ${name} (the run's FIS stop condition)`, err);
  }
}

/** Deletes the run's stop alarm (teardown); nothing to do when it is already gone. */
export async function deleteStopAlarm(client: Pick<CloudWatchClient, 'send'>, runId: string): Promise<void> {
  const name = stopAlarmName(runId);
  try {
    await client.send(new DeleteAlarmsCommand({ AlarmNames: [name] }));
  } catch (err) {
    if ((err as { name?: string })?.name === 'ResourceNotFound') return;
    throw awsError(`CloudWatch DeleteAlarms ${name}`, err);
  }
}

/** A CloudWatch client built as the provider's others are (aws-clients.ts; AWS_ENDPOINT_URL(_CLOUDWATCH)). */
export function cloudWatchClient(region: string): CloudWatchClient {
  return new CloudWatchClient(clientConfig('CLOUDWATCH', { region }));
}
