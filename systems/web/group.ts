import type { NodeRef } from '../../core/provider.ts';

/**
 * The web heads' Auto Scaling group, run by the harness beside the stack (as AWS runs a group
 * beside the instances). It keeps `desired` heads in service:
 *
 * - A head whose instance has not been running for `replaceAfterMs` (killed, powered off) is
 *   unhealthy: it is taken out of the load balancer and terminated. Health is the instance's
 *   state (the group's EC2 health check), not whether it answers: a head cut off by a network
 *   fault keeps running and stays in the group; the load balancer's own checks take it out of
 *   service.
 * - For every head missing, one is launched: in the zone of the head it replaces, unless that
 *   zone is lost, then in the surviving zone with the fewest heads (as a group does while FIS's
 *   AZ scenarios make launches in the lost zone fail). A launch that fails is tried again on the
 *   next look, in another zone if its own is lost.
 * - A launched head is registered with the load balancer once its app listens.
 *
 * Every act is an event; `capacity-restored` says how long the group was below capacity.
 */
export interface GroupConfig {
  desired: number;
  azs: readonly string[];
  replaceAfterMs: number;
  intervalMs: number;
}

export interface GroupDeps {
  /** The group's heads now (every web head node the stack has). */
  heads(): NodeRef[];
  running(node: string): Promise<boolean>;
  /** Launches a head in a zone under a name; fails while the zone is lost. */
  launch(name: string, az: string): Promise<NodeRef>;
  terminate(node: string): Promise<void>;
  /** Adds a head to the load balancer and puts it in service. */
  register(node: NodeRef): Promise<void>;
  /** Takes a head out of the load balancer. */
  deregister(node: string): Promise<void>;
  impairedZones(): ReadonlySet<string>;
  emit(type: string, node: string | undefined, data?: Record<string, unknown>): void;
  now(): number;
  sleep(ms: number): Promise<void>;
}

export class AutoScalingGroup {
  private notRunningSince = new Map<string, number>();
  /** Zones of heads terminated and not yet replaced, oldest first. */
  private owed: string[] = [];
  private belowSince: number | null = null;
  private launched = 0;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private saidNoZone = false;

  constructor(
    private readonly cfg: GroupConfig,
    private readonly deps: GroupDeps,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.tick();
      } catch (err) {
        this.deps.emit('group-error', undefined, { error: String(err) });
      }
      await this.deps.sleep(this.cfg.intervalMs);
    }
  }

  /** One look at the group: terminate what is unhealthy, launch what is missing. */
  async tick(): Promise<void> {
    const { deps, cfg } = this;
    const now = deps.now();
    const heads = deps.heads();
    for (const h of heads) {
      if (await deps.running(h.name)) {
        this.notRunningSince.delete(h.name);
        continue;
      }
      const since = this.notRunningSince.get(h.name) ?? now;
      this.notRunningSince.set(h.name, since);
      if (now - since < cfg.replaceAfterMs) continue;
      deps.emit('unhealthy', h.name, { reason: 'its instance is not running', forMs: now - since });
      await deps.deregister(h.name).catch(() => {});
      await deps.terminate(h.name);
      this.notRunningSince.delete(h.name);
      this.owed.push(h.az);
      deps.emit('terminated', h.name, { az: h.az });
    }
    const count = deps.heads().length;
    if (count < cfg.desired) this.belowSince ??= now;
    for (let missing = cfg.desired - count; missing > 0 && !this.stopped; missing--) {
      const az = this.zoneForLaunch();
      if (!az) {
        if (!this.saidNoZone)
          deps.emit('launch-failed', undefined, { reason: 'every zone of the group is lost' });
        this.saidNoZone = true;
        return;
      }
      this.saidNoZone = false;
      const name = `web-${az}-r${++this.launched}`;
      const t0 = deps.now();
      deps.emit('launching', name, { az, replacing: this.owed[0] ?? null });
      let node: NodeRef;
      try {
        node = await deps.launch(name, az);
      } catch (err) {
        deps.emit('launch-failed', name, { az, reason: String((err as Error).message ?? err) });
        continue;
      }
      const i = this.owed.indexOf(az);
      this.owed.splice(i >= 0 ? i : 0, 1);
      await deps.register(node);
      deps.emit('in-service', name, { az, launchToServiceMs: deps.now() - t0 });
    }
    if (this.belowSince !== null && deps.heads().length >= cfg.desired) {
      deps.emit('capacity-restored', undefined, {
        belowForMs: deps.now() - this.belowSince,
        desired: cfg.desired,
      });
      this.belowSince = null;
    }
  }

  /**
   * Where the next head goes: the zone of the oldest head still owed, if that zone is not lost;
   * else the surviving zone with the fewest heads (ties in the group's zone order).
   */
  private zoneForLaunch(): string | undefined {
    const lost = this.deps.impairedZones();
    const own = this.owed.find((az) => !lost.has(az));
    if (own) return own;
    const counts = new Map(this.cfg.azs.map((az) => [az, 0]));
    for (const h of this.deps.heads()) if (counts.has(h.az)) counts.set(h.az, counts.get(h.az)! + 1);
    return [...counts.entries()].filter(([az]) => !lost.has(az)).sort((a, b) => a[1] - b[1])[0]?.[0];
  }
}
