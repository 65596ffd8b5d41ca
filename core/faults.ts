/**
 * The fault vocabulary, provider-neutral. Each fault says which AWS FIS action stands for it (so
 * the AWS provider can run the same scenario as an FIS experiment), or why none does.
 */
export const FAULT_ACTIONS = ['kill', 'stop', 'pause', 'partition'] as const;
export type FaultAction = (typeof FAULT_ACTIONS)[number];

export interface FaultKind {
  /** What it does to a node, in a few words. */
  does: string;
  /** Whether it can be undone after `durationMs`. */
  revertible: boolean;
  /** Whether the nodes it hits are down while it lasts (a later fault finds nothing to hit). */
  takesDown: boolean;
  /** The AWS FIS action that does the same in the cloud, or null with the reason. */
  fis: { action: string; note?: string } | { action: null; why: string };
}

export const FAULTS: Record<FaultAction, FaultKind> = {
  kill: {
    does: 'the node dies at once (SIGKILL), with its agent; it does not come back',
    revertible: false,
    takesDown: true,
    fis: { action: 'aws:ec2:terminate-instances' },
  },
  stop: {
    does: 'a power loss: the node dies without a shutdown and boots again after durationMs with its volume',
    revertible: true,
    takesDown: true,
    fis: { action: 'aws:ec2:stop-instances', note: 'with startInstancesAfterDuration' },
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
};
