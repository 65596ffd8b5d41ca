import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { runsWithProcesses } from './gray.ts';
import { hostUnsupportedReason, toolMissing } from './host.ts';

const run = promisify(execFile);

/**
 * Availability zones as subnets, the way a VPC has them: a run's network is one /16
 * (10.K.0.0/16), zone `a` is 10.K.1.0/24, `b` 10.K.2.0/24 and so on, and every node has a fixed
 * address in its zone's range. What belongs to no zone (the endpoint registry) takes its address
 * from 10.K.0.0/24. Cutting a zone off is then one act on one address range, like a network ACL
 * on the zone's subnets (FIS's aws:network:disrupt-connectivity, scope availability-zone): host
 * rules drop every packet between the zone's range and anything outside it, bridged traffic in
 * the DOCKER-USER chain, the host's own (the probes, the harness) in INPUT and OUTPUT.
 */

export interface ZonePlan {
  subnet: string;
  ipRange: string;
  gateway: string;
  /** A zone's address range. */
  cidr(az: string): string;
  /** A node's fixed address: the `slot`-th node of its zone. */
  address(az: string, slot: number): string;
}

function zoneIndex(az: string): number {
  const i = az.charCodeAt(0) - 'a'.charCodeAt(0) + 1;
  if (az.length !== 1 || i < 1 || i > 26) throw new Error(`an AZ is one lower-case letter, not '${az}'`);
  return i;
}

export function zonePlan(second: number): ZonePlan {
  const base = `10.${second}`;
  return {
    subnet: `${base}.0.0/16`,
    ipRange: `${base}.0.0/24`,
    gateway: `${base}.0.1`,
    cidr: (az) => `${base}.${zoneIndex(az)}.0/24`,
    address: (az, slot) => {
      if (slot > 240) throw new Error(`more than 240 nodes in AZ ${az}`);
      return `${base}.${zoneIndex(az)}.${10 + slot}`;
    },
  };
}

/** The second octets already taken by the engine's networks (any 10.K.x.x subnet). */
async function takenOctets(docker: Docker): Promise<Set<number>> {
  const networks = await docker.listNetworks();
  const taken = new Set<number>();
  // A rule a dead run left (its network since removed) would cut the next run off: not reused.
  for (const chain of ['DOCKER-USER', 'INPUT', 'OUTPUT']) {
    const { stdout } = await run('iptables', ['-w', '-S', chain]).catch(() => ({ stdout: '' }));
    for (const m of stdout.matchAll(/10\.(\d+)\.\d+\.\d+\/\d+.*chaos-harness:run=/g)) taken.add(Number(m[1]));
  }
  for (const n of networks)
    for (const c of n.IPAM?.Config ?? []) {
      const m = /^10\.(\d+)\./.exec(c.Subnet ?? '');
      if (m) taken.add(Number(m[1]));
    }
  return taken;
}

/**
 * Creates the run's network with a zone plan: picks a free 10.K.0.0/16 (another run may take
 * the same one at the same moment: the engine refuses an overlap, and the next one is tried).
 */
export async function createZonedNetwork(
  docker: Docker,
  name: string,
  labels: Record<string, string>,
): Promise<ZonePlan> {
  const taken = await takenOctets(docker);
  const free = [];
  for (let k = 200; k <= 254; k++) if (!taken.has(k)) free.push(k);
  // Start somewhere random, so runs started together do not all try the same one first.
  const start = Math.floor(Math.random() * Math.max(1, free.length));
  const order = [...free.slice(start), ...free.slice(0, start)];
  let last: unknown;
  for (const k of order.slice(0, 12)) {
    const plan = zonePlan(k);
    try {
      await docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        CheckDuplicate: true,
        Labels: labels,
        IPAM: {
          Driver: 'default',
          Config: [{ Subnet: plan.subnet, IPRange: plan.ipRange, Gateway: plan.gateway }],
        },
      });
      return plan;
    } catch (err) {
      last = err;
      if (!/overlap/i.test(String((err as Error).message))) throw err;
    }
  }
  throw new Error(
    `no free 10.K.0.0/16 for the run's network (10.200-254 all taken): ${(last as Error | undefined)?.message ?? 'none free'}; \`chaos cleanup\` removes old runs' networks`,
  );
}

/** Why a zone cannot be cut off by network here, or undefined. */
export function zoneCutUnsupportedReason(): string | undefined {
  if (process.platform !== 'linux') return 'cutting a zone off needs Linux (iptables on the host)';
  const host = hostUnsupportedReason('cutting a zone off', 'iptables rules on the host');
  if (host) return host;
  const tool = toolMissing('cutting a zone off', 'iptables', 'iptables');
  if (tool) return tool;
  const bridged = '/proc/sys/net/bridge/bridge-nf-call-iptables';
  if (!existsSync(bridged) || readFileSync(bridged, 'utf8').trim() !== '1')
    return 'cutting a zone off needs bridged traffic to pass iptables (modprobe br_netfilter; sysctl net.bridge.bridge-nf-call-iptables=1)';
  if (spawnSync('iptables', ['-w', '-S', 'DOCKER-USER'], { stdio: 'ignore' }).status !== 0)
    return "cutting a zone off needs Docker's DOCKER-USER chain (the engine must manage iptables: no `iptables: false` in daemon.json)";
  return undefined;
}

/** Every rule of a run carries this comment, so it can be found and removed whatever happened. */
function tag(runId: string): string {
  return `chaos-harness:run=${runId}`;
}

async function iptables(args: string[]): Promise<void> {
  await run('iptables', ['-w', ...args], { timeout: 15_000 });
}

/**
 * Cuts a zone's range off from everything outside it, both ways; traffic inside the zone flows.
 * Returns the revert. Rules go first in their chains, so established connections are cut too.
 */
export async function cutZone(runId: string, cidr: string): Promise<() => Promise<void>> {
  const c = ['-m', 'comment', '--comment', tag(runId)];
  // In the order they must be evaluated (each is inserted at the top, so inserted in reverse).
  const rules: [string, string[]][] = [
    ['DOCKER-USER', ['-s', cidr, '-d', cidr, ...c, '-j', 'RETURN']],
    ['DOCKER-USER', ['-s', cidr, ...c, '-j', 'DROP']],
    ['DOCKER-USER', ['-d', cidr, ...c, '-j', 'DROP']],
    ['OUTPUT', ['-d', cidr, ...c, '-j', 'DROP']],
    ['INPUT', ['-s', cidr, ...c, '-j', 'DROP']],
  ];
  const added: [string, string[]][] = [];
  // Every rule is tried; a rule that could not be deleted leaves the zone cut: that is an error.
  const revert = async () => {
    const failed: string[] = [];
    for (const [chain, rule] of added.splice(0).reverse())
      await iptables(['-D', chain, ...rule]).catch((err: Error) => {
        failed.push(`${chain} ${rule.join(' ')}: ${err.message.split('\n')[0]}`);
        added.push([chain, rule]);
      });
    if (failed.length)
      throw new Error(`the zone ${cidr} is still cut off: ${failed.length} rules not removed (${failed[0]})`);
  };
  try {
    for (const [chain, rule] of [...rules].reverse()) {
      await iptables(['-I', chain, '1', ...rule]);
      added.push([chain, rule]);
    }
  } catch (err) {
    await revert();
    throw err;
  }
  return revert;
}

/**
 * The run ids that have rules on this host, or processes of gray faults (a proxy or a stressor
 * left behind by a run that died: it holds its node's namespace).
 */
export async function runsWithRules(): Promise<string[]> {
  const ids = new Set<string>(runsWithProcesses());
  for (const chain of ['DOCKER-USER', 'INPUT', 'OUTPUT']) {
    const { stdout } = await run('iptables', ['-w', '-S', chain]).catch(() => ({ stdout: '' }));
    for (const m of stdout.matchAll(/chaos-harness:run=([\w.-]+)/g)) ids.add(m[1]!);
  }
  return [...ids];
}

/** Removes every rule a run left (all runs' without an id). Returns how many it removed. */
export async function removeZoneRules(runId?: string): Promise<number> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 0;
  let removed = 0;
  for (const chain of ['DOCKER-USER', 'INPUT', 'OUTPUT']) {
    const { stdout } = await run('iptables', ['-w', '-S', chain]).catch(() => ({ stdout: '' }));
    for (const line of stdout.split('\n')) {
      const m = /chaos-harness:run=([\w.-]+)/.exec(line);
      if (!m || (runId && m[1] !== runId) || !line.startsWith(`-A ${chain} `)) continue;
      // `iptables -S` quotes the comment (iptables-nft does); the words themselves have no spaces.
      const rule = (line.slice(`-A ${chain} `.length).match(/"[^"]*"|\S+/g) ?? []).map((w) =>
        w.replace(/^"(.*)"$/, '$1'),
      );
      await iptables(['-D', chain, ...rule]).then(
        () => removed++,
        () => {},
      );
    }
  }
  return removed;
}
