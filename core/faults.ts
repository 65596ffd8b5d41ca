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
  'latency',
  'bandwidth',
  'blackhole',
  'reset',
  'stress',
  'fill-disk',
] as const;
export type FaultAction = (typeof FAULT_ACTIONS)[number];

/**
 * Gray failures on the network: the node stays up and answers, slowly (latency, bandwidth), never
 * (blackhole: connections accepted, nothing answered) or by resetting every connection (reset);
 * on the traffic between the target and the `from` nodes (a replication link), or between every
 * client and the target (no `from`).
 */
export const NETWORK_GRAY_FAULTS = ['latency', 'bandwidth', 'blackhole', 'reset'] as const;
export type NetworkGrayFault = (typeof NETWORK_GRAY_FAULTS)[number];
export const isNetworkGray = (action: string): action is NetworkGrayFault =>
  (NETWORK_GRAY_FAULTS as readonly string[]).includes(action);

/** What `stress` exhausts on the node: its CPU, its memory, or its disk's I/O. */
export const STRESS_RESOURCES = ['cpu', 'memory', 'io'] as const;
export type StressResource = (typeof STRESS_RESOURCES)[number];

/** The faults that degrade a node without taking it down (gray failures). */
export const GRAY_FAULTS = [...NETWORK_GRAY_FAULTS, 'stress', 'fill-disk'] as const;
export const isGray = (action: string): boolean => (GRAY_FAULTS as readonly string[]).includes(action);

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
  latency: {
    does: 'every reply the target sends to its clients (or to the `from` nodes) is delayed by delayMs (± jitterMs); it keeps answering, slowly. Open connections are reset when it begins and ends, so clients reconnect through the delay (set quiesceProbes)',
    revertible: true,
    takesDown: false,
    fis: {
      action: 'aws:ssm:send-command',
      note: 'document AWSFIS-Run-Network-Latency (DelayMilliseconds, Interface; tc on the whole interface) for every client without jitter; AWSFIS-Run-Network-Latency-Sources (DelayMilliseconds, JitterMilliseconds, Sources, TrafficType egress) with jitter or `from`',
    },
  },
  bandwidth: {
    does: 'the traffic between the target and its clients (or the `from` nodes) is held to rateKBps each way',
    revertible: true,
    takesDown: false,
    fis: {
      action: null,
      why: 'no FIS action or AWSFIS- document limits bandwidth (its network documents add latency, drop packets or block a port); on AWS it would go through SSM with a tc script of your own',
    },
  },
  blackhole: {
    does: 'connections to the target are accepted and nothing is ever answered; those open stay open, silent',
    revertible: true,
    takesDown: false,
    fis: {
      action: 'aws:ssm:send-command',
      note: "document AWSFIS-Run-Network-Blackhole-Port (Protocol tcp, Port the node's service port, TrafficType ingress), for every client only: it drops the port's packets with iptables, so a new connection is not even accepted (a connect timeout, where the local blackhole accepts and stays silent); it takes no sources, so a `from` link cannot be blackholed",
    },
  },
  reset: {
    does: 'every packet to the target (from its clients, or from the `from` nodes) is answered with a TCP reset: open connections break, new ones are refused',
    revertible: true,
    takesDown: false,
    fis: {
      action: null,
      why: 'no FIS action or AWSFIS- document resets connections (AWSFIS-Run-Network-Blackhole-Port drops packets, which is a blackhole, not a reset); on AWS it would go through SSM with iptables REJECT --reject-with tcp-reset',
    },
  },
  stress: {
    does: "stress-ng exhausts the node's CPU, memory or disk I/O from inside it (its cgroup and namespaces) for durationMs; it keeps running, starved",
    revertible: true,
    takesDown: false,
    fis: {
      action: 'aws:ssm:send-command',
      note: 'document AWSFIS-Run-CPU-Stress (CPU, LoadPercent), AWSFIS-Run-Memory-Stress (Workers, Percent) or AWSFIS-Run-IO-Stress (Workers, Percent), each with DurationSeconds; stress-ng on the whole instance',
    },
  },
  'fill-disk': {
    does: "the node's data disk is filled to `percent` of its size (fallocate) until it is reverted",
    revertible: true,
    takesDown: false,
    fis: {
      action: 'aws:ssm:send-command',
      note: 'document AWSFIS-Run-Disk-Fill (Percent, DurationSeconds): it fills the root volume, not a data volume of our choosing',
    },
  },
};

/** What a gray fault is given: how much delay, how little bandwidth, how much stress or fill. */
export interface GrayParams {
  /** latency: the delay added to each reply, ms. */
  delayMs?: number;
  /** latency: up to this much more or less, at random, ms. */
  jitterMs?: number;
  /** bandwidth: the rate each way, kB/s (1 kB = 1024 bytes, as toxiproxy counts). */
  rateKBps?: number;
  /** stress: what it exhausts. */
  resource?: StressResource;
  /** stress: how many stress-ng workers (default 1; for cpu, one per core of the host). */
  workers?: number;
  /**
   * stress cpu: the load each worker puts on its core (default 100); stress memory: the share of
   * the node's memory to take (of its cgroup limit, or of the host's); fill-disk: how full the
   * disk is left (default 95).
   */
  percent?: number;
  /** How long it lasts, ms: stress-ng stops by itself then, should the revert never come. */
  durationMs?: number;
}
