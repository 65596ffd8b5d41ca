/**
 * The fault vocabulary, provider-neutral. Each fault says which AWS FIS action stands for it (so
 * the AWS provider can run the same scenario as an FIS experiment), or why none does. A provider
 * says, through `supports()`, which of them it can carry out where it runs.
 */
export const FAULT_ACTIONS = [
  'kill',
  'stop',
  'pause',
  'partition',
  'kill-process',
  'freeze-volume',
  'drop-az',
] as const;
export type FaultAction = (typeof FAULT_ACTIONS)[number];

/** Which process of a node `kill-process` hits: its server (redis-server, postgres) or its agent. */
export const NODE_PROCESSES = ['server', 'agent'] as const;
export type NodeProcess = (typeof NODE_PROCESSES)[number];

/** How `drop-az` takes a zone out: cut off but running (network), or every node off (power). */
export const AZ_DROP_MODES = ['network', 'power'] as const;
export type AzDropMode = (typeof AZ_DROP_MODES)[number];

/** How `freeze-volume` freezes: the file system itself (fsfreeze), or, where that cannot be had, every process of the node (the cgroup freezer). */
export const FREEZE_METHODS = ['fsfreeze', 'cgroup'] as const;
export type FreezeMethod = (typeof FREEZE_METHODS)[number];

export interface FaultKind {
  /** What it does to a node, in a few words. */
  does: string;
  /** Whether it can be undone after `durationMs`. */
  revertible: boolean;
  /** Whether the nodes it hits are down while it lasts (a later fault finds nothing to hit). */
  takesDown: boolean;
  /**
   * The AWS FIS action that stands for it in the cloud, with what differs there, or null with the
   * reason.
   */
  fis: { action: string; note?: string } | { action: null; why: string };
}

export const FAULTS: Record<FaultAction, FaultKind> = {
  kill: {
    does: 'the node dies at once (SIGKILL), with its agent; it does not come back',
    revertible: false,
    takesDown: true,
    fis: {
      action: 'aws:ec2:terminate-instances',
      note: 'a graceful OS shutdown first, which FIS cannot skip; EC2 TerminateInstances with SkipOsShutdown, called directly, skips it',
    },
  },
  stop: {
    does: 'a power loss: the node dies without a shutdown and boots again after durationMs with its volume',
    revertible: true,
    takesDown: true,
    fis: {
      action: 'aws:ec2:stop-instances',
      note: 'with startInstancesAfterDuration; a graceful OS shutdown, which FIS cannot skip (not a power loss); EC2 StopInstances with SkipOsShutdown, called directly, skips it',
    },
  },
  pause: {
    does: 'every process of the node is frozen; its sockets stay open',
    revertible: true,
    takesDown: true,
    fis: { action: null, why: 'no FIS action freezes an instance; on AWS it would go through SSM' },
  },
  partition: {
    does: 'traffic between the target and the `from` nodes is dropped both ways; both keep running',
    revertible: true,
    takesDown: false,
    fis: {
      action: null,
      why: 'FIS disrupts connectivity per subnet, not between two chosen nodes; on AWS it would go through SSM',
    },
  },
  'kill-process': {
    does: 'one process of the node dies with a signal (its server or its agent); the node stays up and its supervisor may restart it',
    revertible: false,
    takesDown: false,
    fis: {
      action: 'aws:ssm:send-command',
      note: 'document AWSFIS-Run-Kill-Process, with ProcessName and Signal',
    },
  },
  'freeze-volume': {
    does: "the node's data volume stops doing I/O (writes and fsyncs block) until it is thawed",
    revertible: true,
    takesDown: false,
    fis: { action: 'aws:ebs:pause-volume-io' },
  },
  'drop-az': {
    does: 'an availability zone is lost: cut off from everything outside it but running (network), or every node of it powered off and back after durationMs (power)',
    revertible: true,
    takesDown: true,
    fis: {
      action: 'aws:network:disrupt-connectivity',
      note: "network: scope availability-zone on the zone's subnets; power: as the AZ power interruption scenario, aws:ec2:stop-instances (startInstancesAfterDuration, completeIfInstancesTerminated; a graceful OS shutdown, which FIS cannot skip) on the zone's instances, aws:network:disrupt-connectivity scope all on its subnets for the scenario's 2 minutes, and aws:ec2:asg-insufficient-instance-capacity-error on an Auto Scaling group's launches there",
    },
  },
};
