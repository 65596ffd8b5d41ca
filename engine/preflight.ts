import { ChaosError, InfraError, errorMessage } from '../core/errors.ts';
import type { FaultAction } from '../core/faults.ts';
import type { PreflightCheck, Provider } from '../core/provider.ts';
import { attachPreflight } from '../infra/local/attach.ts';
import { dockerClient } from '../infra/local/docker.ts';
import type { LoadedScenario } from '../scenarios/load.ts';
import { isStep } from '../scenarios/schema.ts';
import { probeOfKind } from '../systems/index.ts';
import { attachGroups } from './attach.ts';
import { attachOf, imagesFor } from './runner.ts';

/**
 * Everything a run of this scenario needs on this machine, checked before anything is started:
 * the provider's own checks (engine, images, rights, disk, each fault's needs) and each probe
 * kind's (k6). `chaos run --dry-run` prints them and stops; `chaos run` stops on any that failed,
 * one line each.
 */
export async function preflightScenario(
  loaded: LoadedScenario,
  provider: Provider,
): Promise<PreflightCheck[]> {
  const { scenario } = loaded;
  const faults = scenario.faults
    .filter((f) => !isStep(f.action))
    .map((f) => ({ action: f.action as FaultAction, mode: f.mode, method: f.method }));
  const checks: PreflightCheck[] = provider.preflight
    ? await provider.preflight(imagesFor(scenario), faults)
    : faults.map((f) => {
        const s = provider.supports(f);
        return s.ok
          ? { what: `fault ${f.action}`, ok: true, detail: 'supported' }
          : { what: `fault ${f.action}`, ok: false, detail: s.reason };
      });
  // A stack attached to: each selector names running containers (a selector that matches none is a line).
  const attach = attachOf(scenario);
  if (attach && provider.name === 'local' && checks.every((c) => c.ok || c.what !== 'Docker engine'))
    checks.push(...(await attachPreflight(dockerClient(), attachGroups(attach))));
  for (const kind of new Set(scenario.probes.map((p) => p.kind))) {
    const def = probeOfKind(kind)?.probe;
    if (!def?.preflight) continue;
    try {
      await def.preflight();
      checks.push({ what: `probe ${kind}`, ok: true, detail: 'found' });
    } catch (err) {
      checks.push({
        what: `probe ${kind}`,
        ok: false,
        detail: errorMessage(err),
        error: err instanceof ChaosError ? err : new InfraError('PROBE_UNAVAILABLE', errorMessage(err)),
      });
    }
  }
  return checks;
}

/** The exit code for failed checks: the highest of theirs (an engine that does not answer is 3). */
export function preflightExitCode(failed: readonly PreflightCheck[]): number {
  return Math.max(2, ...failed.map((c) => c.error?.exitCode ?? 2));
}
