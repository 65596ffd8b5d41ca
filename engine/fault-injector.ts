import { InfraError, errorMessage } from '../core/errors.ts';
import { FAULTS, type FaultAction, type GrayParams, isGray } from '../core/faults.ts';
import type { NodeRef, Stack } from '../core/provider.ts';
import type { FaultRecord } from '../core/result.ts';
import { type ActiveSystem, isStep } from '../scenarios/schema.ts';
import type { FaultStep } from '../scenarios/schema.ts';
import type { RunContext } from './run-context.ts';
import { resolveTarget } from './targets.ts';

/** What can hold a probe's writes while a fault is applied. */
export interface Quiescible {
  pause(): Promise<void>;
  resume(): void;
}

interface PendingRevert {
  due: number;
  record: FaultRecord;
  revert: () => Promise<void>;
  /** Hold the probes' writes while it is reverted too (the step's quiesceProbes). */
  quiesce: boolean;
}

const label = (r: { index: number }) => `fault #${r.index + 1}`;

/** A gray fault's figures, as the scenario gives them (the provider fills in its defaults). */
function grayParams(step: FaultStep): GrayParams {
  const out: GrayParams = {};
  if (step.delayMs !== undefined) out.delayMs = step.delayMs;
  if (step.jitterMs !== undefined) out.jitterMs = step.jitterMs;
  if (step.rateKBps !== undefined) out.rateKBps = step.rateKBps;
  if (step.resource !== undefined) out.resource = step.resource;
  if (step.workers !== undefined) out.workers = step.workers;
  if (step.percent !== undefined) out.percent = step.percent;
  if (step.durationMs !== undefined) out.durationMs = step.durationMs;
  return out;
}

/**
 * Carries out a scenario's fault schedule against a live stack: resolves each fault's target at
 * the moment of injection, skips (and records why) a fault with nothing left to hit, reverts each
 * fault when it falls due, and attempts every pending revert, even after a failure.
 */
export class FaultInjector {
  readonly records: FaultRecord[] = [];
  private readonly pending: PendingRevert[] = [];
  /** Nodes a fault has taken down, and by what, so a later fault does not hit them again. */
  private readonly down = new Map<string, { index: number; how: string }>();

  constructor(
    private readonly run: RunContext,
    private readonly stack: Stack,
    private readonly probes: readonly Quiescible[],
    private readonly systems: readonly ActiveSystem[],
  ) {}

  /** Injects every step at `origin + step.at`, carrying out reverts that fall due meanwhile. */
  async runSchedule(steps: readonly FaultStep[], origin: number): Promise<void> {
    const order = steps.map((step, index) => ({ step, index })).sort((a, b) => a.step.at - b.step.at);
    for (const { step, index } of order) {
      await this.waitUntil(origin + step.at);
      await this.inject(step, index);
    }
  }

  /** When the last revert with a duration falls due (or -Infinity). */
  lastDue(): number {
    return Math.max(Number.NEGATIVE_INFINITY, ...this.pending.map((p) => p.due).filter(Number.isFinite));
  }

  /** Sleeps until `t`, carrying out every revert that falls due first, each when it is due. */
  async waitUntil(t: number): Promise<void> {
    for (;;) {
      this.run.checkpoint();
      const due = this.pending.filter((p) => p.due <= t).sort((a, b) => a.due - b.due)[0];
      await this.run.sleepUntil(due ? due.due : t);
      if (!due) return;
      const error = await this.revertOne(due);
      if (error) throw error;
    }
  }

  /**
   * Reverts everything still pending, in due order. Each revert is attempted even when an
   * earlier one failed; each outcome is an event. Returns the first failure, if any.
   */
  async revertAll(): Promise<InfraError | undefined> {
    let first: InfraError | undefined;
    for (const p of [...this.pending].sort((a, b) => a.due - b.due)) {
      const error = await this.revertOne(p);
      first ??= error;
    }
    return first;
  }

  /** The nodes a fault holds down now (killed, or stopped or paused and not yet reverted). */
  heldDown(): string[] {
    return [...this.down.keys()];
  }

  get pendingReverts(): number {
    return this.pending.length;
  }

  private async revertOne(p: PendingRevert): Promise<InfraError | undefined> {
    this.pending.splice(this.pending.indexOf(p), 1);
    const { record } = p;
    // No new write while a revert resets connections (a gray fault's proxy going away); the
    // writes in flight finish while it runs (it lets what the proxy holds through first).
    const paused = p.quiesce ? Promise.all(this.probes.map((q) => q.pause())) : undefined;
    try {
      await p.revert();
      await paused;
      record.tReverted = this.run.clock.now();
      for (const n of record.nodes) if (this.down.get(n)?.index === record.index) this.down.delete(n);
      this.run.emit({
        t: record.tReverted,
        source: 'fault',
        type: 'fault-reverted',
        node: record.nodes.join(','),
        data: { index: record.index, action: record.action },
      });
      return undefined;
    } catch (err) {
      record.revertError = errorMessage(err);
      this.run.emit({
        t: this.run.clock.now(),
        source: 'fault',
        type: 'fault-revert-failed',
        node: record.nodes.join(','),
        data: { index: record.index, action: record.action, error: record.revertError },
      });
      return new InfraError(
        'REVERT_FAILED',
        `the revert of ${label(record)} (${record.action} ${record.target} on ${record.nodes.join(', ')}) failed: ${record.revertError}`,
        {
          hint: "the stack is not as the scenario expects; see the nodes' logs in the run folder",
          cause: err,
        },
      );
    } finally {
      if (p.quiesce) for (const q of this.probes) q.resume();
    }
  }

  /** A runbook step (`promote`), carried out by the system its target names. */
  private async runStep(
    action: string,
    target: string,
    nodes: NodeRef[],
  ): Promise<{ method: string; revert?: undefined }> {
    const system = this.systems.find((s) => s.def.name === nodes[0]?.system);
    const step = system?.def.steps?.[action];
    if (!system || !step)
      throw new InfraError('NO_SUCH_STEP', `the system of ${target} offers no step '${action}'`);
    return { method: await step.run(this.stack, nodes, system.spec) };
  }

  /** The live nodes a selector names now, less those a fault has taken down. */
  private async resolve(selector: string): Promise<{ nodes: NodeRef[]; skippedBecause?: string }> {
    const systems = await Promise.all(
      this.systems.map(async ({ def }) => ({
        def,
        state: { ...(await def.records(this.stack)), nodes: [] },
      })),
    );
    const resolved = resolveTarget(selector, { systems, nodes: this.stack.nodes() });
    if (resolved.none !== undefined) return { nodes: [], skippedBecause: resolved.none };
    const nodes = resolved.nodes;
    const alive = nodes.filter((n) => !this.down.has(n.name));
    if (alive.length === 0) {
      const why = nodes.map((n) => `${n.name} is already down (${this.down.get(n.name)?.how})`).join('; ');
      return { nodes: [], skippedBecause: `${selector} is ${nodes.map((n) => n.name).join(', ')}: ${why}` };
    }
    return { nodes: alive };
  }

  private async inject(step: FaultStep, index: number): Promise<void> {
    const { run } = this;
    const target = await this.resolve(step.target);
    const peers = step.from ? await this.resolve(step.from) : undefined;
    const peerNodes = peers?.nodes.filter((p) => !target.nodes.includes(p));
    const skippedBecause =
      target.skippedBecause ??
      peers?.skippedBecause ??
      (peerNodes && peerNodes.length === 0 ? `${step.from} leaves no peer` : undefined);
    // Held probes first: the fault begins once no write is in flight, so none straddles it.
    if (!skippedBecause && step.quiesceProbes) await Promise.all(this.probes.map((p) => p.pause()));
    const tInject = run.clock.now();
    const base = {
      index,
      action: step.action,
      target: step.target,
      nodes: target.nodes.map((n) => n.name),
      ...(peerNodes ? { peers: peerNodes.map((p) => p.name) } : {}),
      measured: step.measure ?? !isStep(step.action),
      tInject,
    };
    if (skippedBecause) {
      const record: FaultRecord = {
        ...base,
        status: 'skipped',
        reason: skippedBecause,
        method: null,
        tApplied: null,
      };
      this.records.push(record);
      run.emit({
        t: tInject,
        source: 'fault',
        type: 'fault-skipped',
        data: { index, action: step.action, target: step.target, reason: skippedBecause },
      });
      return;
    }
    run.emit({
      t: tInject,
      source: 'fault',
      type: 'fault-injected',
      node: base.nodes.join(','),
      data: {
        index,
        action: step.action,
        target: step.target,
        nodes: base.nodes,
        ...(base.peers ? { peers: base.peers } : {}),
        measured: base.measured,
      },
    });
    try {
      const applied = isStep(step.action)
        ? await this.runStep(step.action, step.target, target.nodes)
        : await this.stack.inject({
            action: step.action as FaultAction,
            nodes: target.nodes,
            ...(peerNodes ? { peers: peerNodes } : {}),
            ...(step.registry ? { registry: true } : {}),
            ...(step.process ? { process: step.process, signal: step.signal ?? 'SIGKILL' } : {}),
            ...(step.mode ? { mode: step.mode, az: step.target.slice('az:'.length) } : {}),
            ...(step.method ? { method: step.method } : {}),
            ...(isGray(step.action) ? { gray: grayParams(step) } : {}),
          });
      const record: FaultRecord = {
        ...base,
        status: 'applied',
        method: applied.method,
        tApplied: run.clock.now(),
        ...(applied.revert && step.durationMs !== undefined ? { tRevertDue: tInject + step.durationMs } : {}),
      };
      this.records.push(record);
      if (!isStep(step.action) && FAULTS[step.action as FaultAction].takesDown) {
        const verb: Record<string, string> = {
          kill: 'killed',
          stop: 'stopped',
          pause: 'paused',
          'drop-az': step.mode === 'network' ? 'cut off' : 'powered off',
        };
        const how = `${verb[step.action] ?? step.action} by ${label(record)}`;
        for (const n of record.nodes) this.down.set(n, { index, how });
      }
      run.emit({
        t: record.tApplied!,
        source: 'fault',
        type: 'fault-applied',
        node: record.nodes.join(','),
        data: { index, action: step.action, method: applied.method, appliedMs: record.tApplied! - tInject },
      });
      if (applied.revert) {
        this.pending.push({
          due: record.tRevertDue ?? Number.POSITIVE_INFINITY,
          record,
          revert: applied.revert,
          quiesce: step.quiesceProbes,
        });
      }
    } finally {
      if (step.quiesceProbes) for (const p of this.probes) p.resume();
    }
  }
}
