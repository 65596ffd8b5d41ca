import { z } from 'zod';
import { MAX_DURATION_MS, ms } from '../core/durations.ts';
import {
  AZ_DROP_MODES,
  FAULTS,
  FAULT_ACTIONS,
  FREEZE_METHODS,
  type FaultAction,
  NODE_PROCESSES,
  STRESS_RESOURCES,
  isNetworkGray,
} from '../core/faults.ts';
import type { NodeRef } from '../core/provider.ts';
import type { ProbeSpec, SystemDefinition } from '../core/system.ts';
import { SYSTEMS, systemNamed } from '../systems/index.ts';
import { attachProblems, attachSpec } from './attach.ts';

/** How long a ramping probe's rate must hold within the steady state after its ramp (ms). */
const RAMP_HELD_MS = 1000;

/**
 * The scenario format: stack + probes + fault schedule + expectations. Files are YAML or JSON;
 * every object is strict, so a misspelt field is an error that names the field and the file.
 * The stack's systems, their probes and the roles targets may name come from the systems'
 * registration (systems/index.ts).
 */
export { MAX_DURATION_MS, FAULT_ACTIONS };
export type { FaultAction };

/**
 * Target selectors, resolved against the live stack at the moment of injection:
 * `<system>:<role>` (`redis:head`, `pg:primary`), `node:NAME`, `az:LETTER`.
 */
export const TARGET_PATTERN = /^[a-z][a-z0-9]*:[a-z0-9][a-z0-9-]*$/;
const target = z
  .string()
  .regex(TARGET_PATTERN, 'a target is <system>:<role> (redis:head, pg:primary), node:NAME or az:LETTER')
  .describe(
    'What it hits, resolved against the live stack at the moment of injection: <system>:<role> (redis:head, pg:primary), node:NAME or az:LETTER.',
  );

/** Runbook steps the systems offer (`promote`), scheduled like faults. */
export const STEP_ACTIONS = [...new Set(SYSTEMS.flatMap((s) => Object.keys(s.steps ?? {})))];
const ACTIONS = [...FAULT_ACTIONS, ...STEP_ACTIONS] as [string, ...string[]];
export const isStep = (action: string) => !(FAULT_ACTIONS as readonly string[]).includes(action);

/**
 * What a fault may touch on AWS (infra/aws/rails.ts checks each fault's reach against it before
 * anything is created): the config's limits, then the scenario's, then the fault's own.
 */
const blastRadius = z
  .object({
    maxAzs: z.number().int().min(1).optional().describe('Availability Zones one fault may touch.'),
    maxNodeFraction: z
      .number()
      .gt(0)
      .max(1)
      .optional()
      .describe("The share of one system's nodes one fault may touch (0.5: half)."),
  })
  .strict();

const faultStep = z
  .object({
    at: ms().default(0).describe('When to inject it, in ms after the steady state ends.'),
    action: z
      .enum(ACTIONS)
      .describe(
        'The fault to inject (kill, stop, pause, partition...), or a runbook step a system offers (promote).',
      ),
    target,
    from: target
      .optional()
      .describe(
        "partition: the nodes cut off from the target; latency, bandwidth, blackhole, reset: the other end of the degraded link (without it, every client's traffic with the target is degraded).",
      ),
    /**
     * partition only: cut the target off from the endpoint registry too (where leaders renew
     * their leases: Patroni's DCS), not only from `from`. Its clients still reach it.
     */
    registry: z
      .boolean()
      .optional()
      .describe(
        'partition only: cut the target off from the endpoint registry too, where leaders renew their leases (its clients still reach it).',
      ),
    delayMs: z
      .number()
      .int()
      .min(1)
      .max(60_000)
      .optional()
      .describe('latency only (required): the delay added to each reply of the target, in ms.'),
    jitterMs: z
      .number()
      .int()
      .min(0)
      .max(60_000)
      .optional()
      .describe('latency only: up to this much more or less delay, at random, in ms (default 0).'),
    rateKBps: z
      .number()
      .int()
      .min(1)
      .max(10_000_000)
      .optional()
      .describe('bandwidth only (required): the rate allowed each way, in kB/s.'),
    resource: z
      .enum(STRESS_RESOURCES)
      .optional()
      .describe("stress only (required): what it exhausts, the node's cpu, memory or io."),
    workers: z
      .number()
      .int()
      .min(1)
      .max(64)
      .optional()
      .describe('stress only: how many stress-ng workers (default 1; for cpu, one per core of the host).'),
    percent: z
      .number()
      .int()
      .min(1)
      .max(100)
      .optional()
      .describe(
        "stress cpu: each worker's load (default 100); stress memory: the share of the node's memory to take (required); fill-disk: how full its data disk is left (default 95).",
      ),
    process: z
      .enum(NODE_PROCESSES)
      .optional()
      .describe(
        "kill-process only (required): the node's server process (redis-server, postgres...) or its agent.",
      ),
    signal: z
      .enum(['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGABRT'])
      .optional()
      .describe('kill-process only: the signal the process is sent (default SIGKILL).'),
    mode: z
      .enum(AZ_DROP_MODES)
      .optional()
      .describe(
        'drop-az only (required): the zone cut off but running (network, the dangerous case) or every node of it powered off (power).',
      ),
    method: z
      .enum(FREEZE_METHODS)
      .optional()
      .describe(
        'freeze-volume only: demand a method (fsfreeze or cgroup); by default the real file-system freeze where it can be had.',
      ),
    durationMs: ms(1)
      .optional()
      .describe(
        'Revert the fault this long after its injection, in ms (never for kill or kill-process); without it a revertible fault is reverted when the observe window ends.',
      ),
    aws: z
      .object({
        durationMs: ms(1)
          .optional()
          .describe("The fault's duration on AWS, in ms, in place of `durationMs` (which it needs too)."),
        blastRadius: blastRadius
          .optional()
          .describe(
            "What this fault may touch on AWS, over the scenario's aws.blastRadius and the config's (default: one AZ, half of a system's nodes).",
          ),
      })
      .strict()
      .optional()
      .describe(
        "What differs on AWS (chaos plan --provider aws), where FIS's actions last whole seconds, most of them a minute at least.",
      ),
    /**
     * Hold the probes' writes while the fault is applied (and while it is reverted), so its
     * boundaries in the history are sharp: a gray network fault resets the open connections at
     * both, which must not catch a write in flight.
     */
    quiesceProbes: z
      .boolean()
      .default(false)
      .describe(
        "Hold the probes' writes while the fault is applied and while it is reverted, so its boundaries in the history are sharp; set it for the gray network faults (latency, bandwidth, blackhole), which reset the open connections when they begin and end: without it those resets show as two short outages.",
      ),
    /**
     * Every fault is measured in its own window (from its injection to the next measured
     * fault's). `false` folds this fault into the window of the fault before it, or, for a
     * first fault, makes it a preparation that is not measured at all (a partition that sets
     * up a kill). A runbook step is not measured on its own unless this says so.
     */
    measure: z
      .boolean()
      .optional()
      .describe(
        'Whether it is measured in a window of its own: false folds a fault into the window before it (a first fault becomes an unmeasured preparation); a runbook step is measured only when true.',
      ),
  })
  .strict()
  .describe('One fault or runbook step: what to do, to which target, when, and for how long.')
  .superRefine((step, ctx) => {
    if (step.action === 'partition' && !step.from) {
      ctx.addIssue({
        code: 'custom',
        path: ['from'],
        message: 'a partition needs `from`: the nodes cut off from the target',
      });
    }
    if (step.action === 'partition' && step.from === step.target) {
      ctx.addIssue({
        code: 'custom',
        path: ['from'],
        message: 'a partition needs two different sides: `from` is the target itself',
      });
    }
    if (step.registry !== undefined && step.action !== 'partition')
      ctx.addIssue({
        code: 'custom',
        path: ['registry'],
        message:
          '`registry` only applies to action: partition (cut the target off from the endpoint registry too)',
      });
    if (step.action !== 'partition' && !isNetworkGray(step.action) && step.from) {
      ctx.addIssue({
        code: 'custom',
        path: ['from'],
        message: '`from` only applies to action: partition, latency, bandwidth, blackhole, reset',
      });
    }
    if (isNetworkGray(step.action) && step.from === step.target)
      ctx.addIssue({
        code: 'custom',
        path: ['from'],
        message: `a ${step.action} link needs two different sides: \`from\` is the target itself`,
      });
    const grayOnly = (
      field: 'delayMs' | 'jitterMs' | 'rateKBps' | 'resource' | 'workers' | 'percent',
      actions: string[],
    ) => {
      if (step[field] !== undefined && !actions.includes(step.action))
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `\`${field}\` only applies to action: ${actions.join(', ')}`,
        });
    };
    grayOnly('delayMs', ['latency']);
    grayOnly('jitterMs', ['latency']);
    grayOnly('rateKBps', ['bandwidth']);
    grayOnly('resource', ['stress']);
    grayOnly('workers', ['stress']);
    grayOnly('percent', ['stress', 'fill-disk']);
    if (step.action === 'latency' && step.delayMs === undefined)
      ctx.addIssue({ code: 'custom', path: ['delayMs'], message: 'latency needs `delayMs`: the delay, ms' });
    if (step.action === 'bandwidth' && step.rateKBps === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['rateKBps'],
        message: 'bandwidth needs `rateKBps`: the rate, kB/s',
      });
    if (step.action === 'stress' && !step.resource)
      ctx.addIssue({
        code: 'custom',
        path: ['resource'],
        message: 'stress needs `resource`: cpu, memory or io',
      });
    if (step.action === 'stress' && step.resource === 'memory' && step.percent === undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['percent'],
        message: "stress of memory needs `percent`: the share of the node's memory to take",
      });
    const only = (field: 'process' | 'signal' | 'mode' | 'method', action: string) => {
      if (step[field] !== undefined && step.action !== action)
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `\`${field}\` only applies to action: ${action}`,
        });
    };
    only('process', 'kill-process');
    only('signal', 'kill-process');
    only('mode', 'drop-az');
    only('method', 'freeze-volume');
    if (step.action === 'kill-process' && !step.process)
      ctx.addIssue({
        code: 'custom',
        path: ['process'],
        message: 'kill-process needs `process`: server or agent',
      });
    if (step.action === 'drop-az') {
      if (!step.mode)
        ctx.addIssue({ code: 'custom', path: ['mode'], message: 'drop-az needs `mode`: network or power' });
      if (!step.target.startsWith('az:'))
        ctx.addIssue({ code: 'custom', path: ['target'], message: 'drop-az takes a zone: target az:LETTER' });
    }
    const revertible = !isStep(step.action) && FAULTS[step.action as FaultAction].revertible;
    if (!revertible && step.durationMs !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['durationMs'],
        message: `a ${step.action} cannot be reverted; remove durationMs`,
      });
    }
    if (step.aws?.durationMs !== undefined && (!revertible || step.durationMs === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['aws', 'durationMs'],
        message: revertible
          ? 'an AWS duration needs a local one too: give durationMs'
          : `a ${step.action} cannot be reverted, on AWS either; remove aws.durationMs`,
      });
  });

const expectFields = {
  recovered: z.boolean().describe("Every measured fault's window ends with writes succeeding again, stably."),
  maxFailoverMs: ms().describe(
    'The longest failover allowed per measured fault, in ms: from the fault to the first successful write that no failure follows.',
  ),
  maxUnavailabilityMs: ms().describe(
    'The unavailability allowed per measured fault, in ms: from the first failed write to the first success after the last failure in the window, one span across separate outages (two blips 5 s apart count as 5 s).',
  ),
  /**
   * At most this many lost acknowledged writes (default 0: any loss fails the run). For a
   * scenario that expects loss, say how much: a bound here, or `lostWrites`.
   */
  maxLostWrites: z
    .number()
    .int()
    .min(0)
    .describe(
      'At most this many lost acknowledged writes; absent, none is allowed (any loss fails the run); give this or lostWrites, not both.',
    ),
  lostWrites: z
    .union([z.number().int().min(0), z.literal('any')])
    .describe(
      'Exactly this many lost acknowledged writes, or any (loss expected, not judged); give this or maxLostWrites, not both.',
    ),
  /**
   * At most this many writes the client was told failed that turn up in the read-back anyway
   * (default 0: a client that trusts its errors must not be wrong about one), or `any`.
   */
  failedButPresent: z
    .union([z.number().int().min(0), z.literal('any')])
    .describe(
      'At most this many writes the client was told failed that turn up in the read-back anyway, or any; absent, none is allowed.',
    ),
  writesByFormerLeader: z
    .union([z.number().int().min(0), z.literal('any')])
    .describe(
      "At most this many writes acknowledged by a former leader after its system's leader record moved away from it (split-brain evidence), or any; absent, none is allowed.",
    ),
};
const oneLossBound = (e: { maxLostWrites?: unknown; lostWrites?: unknown }, ctx: z.RefinementCtx) => {
  if (e.maxLostWrites !== undefined && e.lostWrites !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['lostWrites'],
      message: 'give either maxLostWrites (a bound) or lostWrites (an exact count or any), not both',
    });
  }
};

/** A probe's own expectations, over the scenario's (for every probe). */
const probeExpect = z
  .object({
    recovered: expectFields.recovered.optional(),
    maxFailoverMs: expectFields.maxFailoverMs.optional(),
    maxUnavailabilityMs: expectFields.maxUnavailabilityMs.optional(),
    maxLostWrites: expectFields.maxLostWrites.optional(),
    lostWrites: expectFields.lostWrites.optional(),
    failedButPresent: expectFields.failedButPresent.optional(),
    writesByFormerLeader: expectFields.writesByFormerLeader.optional(),
  })
  .strict()
  .superRefine(oneLossBound)
  .describe("This probe's own expectations, over the scenario's expect (the same fields).");

const probeKinds = SYSTEMS.flatMap((s) =>
  s.probes.map((p) => p.spec.extend({ expect: probeExpect.optional() })),
);
const probe = z.discriminatedUnion(
  'kind',
  probeKinds as unknown as [z.AnyZodObject, z.AnyZodObject, ...z.AnyZodObject[]],
);

const stack = z
  .object(
    Object.fromEntries(
      SYSTEMS.map((s) => [s.name, s.spec.optional().describe(s.spec.description ?? s.description)]),
    ) as Record<string, z.ZodTypeAny>,
  )
  .extend({ attach: attachSpec.optional() })
  .strict()
  .describe(
    'The systems to bring up, one key per system (at least one); a probe or target names a system of it.',
  )
  .refine((st) => Object.values(st).some((v) => v !== undefined), {
    message: `the stack needs at least one system: ${SYSTEMS.map((s) => s.name).join(', ')}, or attach`,
  });

const scenarioObject = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/, 'lower-case letters, digits and dashes')
      .describe("The scenario's name in results and reports: lower-case letters, digits and dashes."),
    description: z
      .string()
      .default('')
      .describe('What the scenario breaks and what it should show, in prose, for the reports.'),
    stack,
    probes: z
      .array(probe)
      .min(1)
      .max(16)
      .describe('The clients that write to the stack throughout the run (1 to 16), each judged on its own.'),
    steadyState: z
      .object({
        durationMs: ms()
          .default(2000)
          .describe(
            "How long the probes write before the first fault, in ms, to show the stack healthy, counted from every probe's first request (k6 sets up its VUs first; 30 s at most): 0 skips the check, otherwise long enough for 20 writes of each probe.",
          ),
        minSuccessRatio: z
          .number()
          .min(0)
          .max(1)
          .default(0.99)
          .describe(
            'The share of ok writes (0 to 1) the steady state needs; below it the run aborts, the stack was not healthy.',
          ),
      })
      .strict()
      .default({})
      .describe('The check, before any fault, that the stack is healthy.'),
    faults: z
      .array(faultStep)
      .min(1)
      .max(50)
      .describe('The faults and runbook steps to inject (1 to 50), each at its own time.'),
    aws: z
      .object({
        blastRadius: blastRadius
          .optional()
          .describe(
            "What each fault may touch on AWS, over the config's blastRadius (default: one AZ, half of a system's nodes); a fault's own aws.blastRadius goes over this.",
          ),
      })
      .strict()
      .optional()
      .describe('What differs on AWS for the whole scenario (chaos run --provider aws).'),
    observeMs: ms()
      .default(5000)
      .describe(
        'How long to watch after the last fault is injected, in ms (extended to the last due revert).',
      ),
    recovery: z
      .object({
        timeoutMs: ms(100)
          .default(20_000)
          .describe(
            "After the observe window, how much longer to wait (ms) for every measured fault's recovery before the run fails as never recovered.",
          ),
        stableMs: ms()
          .default(1000)
          .describe(
            'A recovery is stable once writes have succeeded without a failure for this long, in ms.',
          ),
        convergenceTimeoutMs: ms(0)
          .default(30_000)
          .describe(
            'After recovery, how long to wait (ms) for every system to regain full redundancy (every node that is up back in the topology, one leader) before judging it.',
          ),
      })
      .strict()
      .default({})
      .describe('How long the run waits for the stack to recover and to regain full redundancy.'),
    /**
     * The run's own stop condition: when a probe's failure ratio (failed and unknown writes over
     * the last second) stays above `maxFailureRatio` for `forMs`, the run halts (status
     * `halted`, exit 3): every revert is done and the report says why. Absent: never halts. On
     * AWS the same figure is published to CloudWatch and an alarm over it stops the experiment.
     */
    abort: z
      .object({
        maxFailureRatio: z
          .number()
          .min(0)
          .max(1)
          .describe(
            "The probe's failure ratio (0 to 1: failed and unknown writes over the last second) above which the run may halt.",
          ),
        forMs: ms(250).describe(
          'How long, in ms, the failure ratio must stay above maxFailureRatio before the run halts.',
        ),
      })
      .strict()
      .optional()
      .describe(
        "The run's own stop condition: a probe failing above maxFailureRatio for forMs halts the run (status halted, exit 3) with every fault reverted; absent, it never halts.",
      ),
    expect: z
      .object({
        recovered: expectFields.recovered.default(true),
        maxFailoverMs: expectFields.maxFailoverMs.optional(),
        maxUnavailabilityMs: expectFields.maxUnavailabilityMs.optional(),
        maxLostWrites: expectFields.maxLostWrites.optional(),
        lostWrites: expectFields.lostWrites.optional(),
        failedButPresent: expectFields.failedButPresent.optional(),
        writesByFormerLeader: expectFields.writesByFormerLeader.optional(),
        converged: z
          .boolean()
          .default(true)
          .describe('After recovery every system regains full redundancy, and its invariants hold.'),
        maxTimeToFullRedundancyMs: ms()
          .optional()
          .describe("The longest allowed from the last fault's injection to full redundancy, in ms."),
        oneLeaderChangePerFault: z
          .boolean()
          .default(true)
          .describe("No split brain: a system's leader changes at most once per fault in a window."),
        /**
         * Exactly this many leader changes over the run: 0 for a fault the stack must ride out
         * without a failover (a short freeze), 1 for one it must not. A number holds for every
         * system of the stack; `{ redis: 1, pg: 0 }` says it per system.
         */
        leaderChanges: z
          .union([z.number().int().min(0).max(50), z.record(z.string(), z.number().int().min(0).max(50))])
          .optional()
          .describe(
            'Exactly this many leader changes over the run: a number for every system of the stack, or one per system ({ redis: 1, pg: 0 }).',
          ),
      })
      .strict()
      .default({})
      .superRefine(oneLossBound)
      .describe(
        "What the run must show to pass, for every probe (a probe's own expect overrides) and every system.",
      ),
  })
  .strict()
  .describe(
    'A chaos scenario: the stack to bring up, the probes that write to it, the faults to inject on a schedule, and what the run must show.',
  )
  .superRefine((s, ctx) => {
    const systems = activeSystems(s);
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: 'custom', path, message });
    // A stack attached to: its probes and targets are checked against what it can be (attach.ts).
    const attached = s.stack.attach !== undefined;
    for (const p of attachProblems(s)) issue(p.path, p.message);
    const afterLastFault = s.observeMs + s.recovery.timeoutMs;
    const changes = s.expect.leaderChanges;
    if (changes !== undefined && typeof changes === 'object')
      for (const name of Object.keys(changes))
        if (!systems.some((x) => x.def.name === name))
          issue(
            ['expect', 'leaderChanges', name],
            `'${name}' is not a system of this stack (${systems.map((x) => x.def.name).join(', ')})`,
          );
    for (const { def, spec } of systems) {
      for (const { system, field } of def.needs?.(spec) ?? [])
        if (!systems.some((x) => x.def.name === system))
          issue(
            ['stack', def.name, field],
            `${def.name} writes through ${system}, which this stack has not: add stack.${system}, or take ${system} out of ${field}`,
          );
      const threshold = def.failoverThresholdMs?.(spec);
      if (threshold !== undefined && threshold >= afterLastFault) {
        issue(
          ['stack', def.name, 'failoverThresholdMs'],
          `${threshold} ms is not shorter than the time the run waits for recovery after the last fault (observeMs ${s.observeMs} + recovery.timeoutMs ${s.recovery.timeoutMs} = ${afterLastFault} ms): the run could never see a failover; raise recovery.timeoutMs`,
        );
      }
    }
    const names = new Set<string>();
    s.probes.forEach((p, i) => {
      if (names.has(p.name as string))
        issue(['probes', i, 'name'], `two probes are named '${p.name}'; give each its own name`);
      names.add(p.name as string);
      const system = SYSTEMS.find((x) => x.probes.some((d) => d.kind === p.kind))!;
      if (!attached && !systems.some((x) => x.def === system))
        issue(
          ['probes', i, 'kind'],
          `a ${p.kind} probe needs stack.${system.name}, which this scenario has not`,
        );
      const rateHz = p.rateHz as number;
      const ramp = typeof p.rampUpMs === 'number' ? p.rampUpMs : 0;
      // k6 starts some time into the steady state, and the rate must hold a while before the first fault.
      if (ramp > 0 && ramp > s.steadyState.durationMs - RAMP_HELD_MS)
        issue(
          ['probes', i, 'rampUpMs'],
          `probe ${p.name} ramps up over ${ramp} ms, but the steady state lasts ${s.steadyState.durationMs} ms: the first fault would land on the ramp or just after it, before the rate has held; make rampUpMs at most steadyState.durationMs - ${RAMP_HELD_MS}`,
        );
      if (s.steadyState.durationMs > 0 && rateHz > 0) {
        const samples = Math.floor((s.steadyState.durationMs * rateHz) / 1000);
        if (samples < 20) {
          issue(
            ['steadyState', 'durationMs'],
            `${s.steadyState.durationMs} ms at ${rateHz} writes/s gives ${samples} writes for probe ${p.name}, too few to judge the stack healthy (at least 20); raise durationMs or rateHz, or set durationMs: 0 to skip the check`,
          );
        }
      }
    });
    s.faults.forEach((f, i) => {
      if (attached) return;
      if (isStep(f.action)) {
        const [kind, arg] = f.target.split(':');
        const offers = systems.filter((x) => x.def.steps?.[f.action]);
        const system =
          kind === 'node'
            ? systems.find((x) => x.def.layout(x.spec).some((n) => n.name === arg))?.def.name
            : kind;
        if (!offers.some((x) => x.def.name === system))
          issue(
            ['faults', i, 'target'],
            `'${f.action}' is a runbook step of ${offers.map((x) => x.def.name).join(', ') || 'no system of this stack'}: give it a target of that system (${offers.map((x) => `${x.def.name}:<role>`).join(', ')}, or node:NAME of one)`,
          );
      }
      for (const key of ['target', 'from'] as const) {
        const sel = f[key];
        if (sel === undefined) continue;
        const problem = targetProblem(sel, systems);
        if (problem) issue(['faults', i, key], problem);
      }
    });
    const lastAt = Math.max(...s.faults.map((f) => f.at + (f.durationMs ?? 0)));
    const total =
      s.steadyState.durationMs +
      lastAt +
      s.observeMs +
      s.recovery.timeoutMs +
      s.recovery.convergenceTimeoutMs;
    if (total > MAX_DURATION_MS) {
      issue(
        [],
        `the scenario's waits add up to ${total} ms (steady state, faults, observe, recovery, convergence), more than 24 h`,
      );
    }
  });

/** Why a target selector cannot work on this stack, or undefined. */
function targetProblem(selector: string, systems: ActiveSystem[]): string | undefined {
  const [kind, arg] = selector.split(':') as [string, string];
  const nodes: NodeRef[] = systems.flatMap((s) => s.def.layout(s.spec));
  if (kind === 'node') {
    if (!nodes.some((n) => n.name === arg))
      return `${selector} names no node; the stack has ${nodes.map((n) => n.name).join(', ')}`;
    return undefined;
  }
  if (kind === 'az') {
    const azs = [...new Set(nodes.map((n) => n.az))];
    if (!azs.includes(arg)) return `${selector} names no AZ of the stack (${azs.join(', ')})`;
    return undefined;
  }
  const def = systemNamed(kind);
  if (!def)
    return `'${kind}' is not a system; a target is ${SYSTEMS.map((s) => `${s.name}:<role>`).join(', ')}, node:NAME or az:LETTER`;
  if (!systems.some((s) => s.def === def))
    return `${selector} names the ${kind} system, which this scenario's stack has not`;
  if (!(arg in def.roles))
    return `'${arg}' is not a role of ${kind}; its targets: ${Object.keys(def.roles)
      .map((r) => `${kind}:${r}`)
      .join(', ')}`;
  return undefined;
}

export interface ActiveSystem {
  def: SystemDefinition;
  // biome-ignore lint/suspicious/noExplicitAny: each system's own spec type
  spec: any;
}

/** The systems a scenario's stack holds, in registration order, with their specs. */
export function activeSystems(s: Pick<Scenario, 'stack'>): ActiveSystem[] {
  const st = s.stack as Record<string, unknown>;
  return SYSTEMS.filter((d) => st[d.name] !== undefined).map((def) => ({ def, spec: st[def.name] }));
}

export type Scenario = Omit<z.infer<typeof scenarioObject>, 'probes'> & { probes: ProbeSpecOf[] };
/** The scenario schema, typed with each probe as the registration's probe spec. */
export const scenarioSchema = scenarioObject as unknown as z.ZodType<Scenario, z.ZodTypeDef, unknown>;
export type FaultStep = Scenario['faults'][number];
export type ProbeSpecOf = ProbeSpec & { expect?: ProbeExpectations };
export type Expectations = Scenario['expect'];
export type ProbeExpectations = z.infer<typeof probeExpect>;

/** What is expected of one probe: the scenario's expectations with the probe's own over them. */
export function expectationsFor(s: Scenario, probeSpec: ProbeSpecOf): Expectations {
  const own = (probeSpec as { expect?: ProbeExpectations }).expect ?? {};
  const merged = { ...s.expect, ...own };
  // A probe that states its own loss replaces the scenario's loss expectation, not adds to it.
  if (own.lostWrites !== undefined) merged.maxLostWrites = undefined;
  if (own.maxLostWrites !== undefined) merged.lostWrites = undefined;
  return merged;
}
