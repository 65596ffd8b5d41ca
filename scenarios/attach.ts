import { z } from 'zod';
import type { FAULT_ACTIONS } from '../core/faults.ts';

/**
 * `stack.attach`: a stack the user already runs on the Docker engine, which the harness attaches
 * to instead of building one. Each key is a kind of system; its containers are found by a label
 * or by a Compose project, its leader the way that kind says (Sentinel: the master a majority of
 * the Sentinels hands out). The harness never starts, restarts or removes the user's containers
 * or networks; it removes only what it added (its iptables rules, its proxies, the keys its
 * probes wrote).
 *
 * Only `sentinel` can be attached to today; the other kinds need a probe that finds the leader
 * without the harness's registry (`ROLE` for a Redis chain, `pg_is_in_recovery()` for Postgres).
 */
export const ATTACH_KINDS = ['sentinel'] as const;
export type AttachKind = (typeof ATTACH_KINDS)[number];

/** The faults an attached stack can take: those that need nothing the harness builds. */
export const ATTACH_FAULTS = [
  'kill',
  'stop',
  'pause',
  'partition',
  'latency',
  'bandwidth',
  'blackhole',
  'reset',
  'stress',
] as const satisfies readonly (typeof FAULT_ACTIONS)[number][];

/** Why each other fault cannot be done to a stack the harness did not build. */
export const ATTACH_FAULT_REFUSALS: Partial<Record<(typeof FAULT_ACTIONS)[number], string>> = {
  'drop-az':
    "a zone is the harness's own network layout; on an attached stack, kill or partition the zone's containers (az:X targets)",
  'freeze-volume': "the harness does not know which of the user's mounts is a node's data disk",
  'fill-disk': "the harness does not know which of the user's mounts is a node's data disk",
  'kill-process':
    "the harness does not know the process names in the user's containers; use kill, stop or pause",
};

const selector = z
  .union([
    z
      .object({
        label: z
          .string()
          .regex(/^[^=\s]+(=\S*)?$/, 'a Docker label filter: KEY or KEY=VALUE')
          .describe('Every running container with this label (KEY or KEY=VALUE).'),
      })
      .strict(),
    z
      .object({
        compose: z
          .string()
          .min(1)
          .describe(
            'Every running container of this Compose project (its label com.docker.compose.project).',
          ),
      })
      .strict(),
  ])
  .describe('Which containers form the stack: { label: KEY=VALUE } or { compose: PROJECT }.');

export type AttachSelector = z.infer<typeof selector>;

/** A running user's Redis with Sentinel: data nodes and Sentinels, in one or several containers. */
export const sentinelAttachSpec = z
  .object({
    select: selector,
    masterName: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, "the master set's name as the Sentinels know it")
      .default('mymaster')
      .describe("The master set's name the Sentinels monitor (sentinel monitor <name> ...)."),
    port: z.number().int().min(1).max(65535).default(6379).describe("The data nodes' Redis port."),
    sentinelPort: z.number().int().min(1).max(65535).default(26379).describe("The Sentinels' port."),
    azLabel: z
      .string()
      .min(1)
      .optional()
      .describe("The label that holds each container's AZ (absent, or absent on a container: AZ a)."),
    endpoints: z
      .enum(['network', 'published'])
      .default('network')
      .describe(
        "How the probes reach the containers: their addresses on their Docker network (Linux), or the ports they publish on the host (127.0.0.1); the Sentinels' answers are mapped either way.",
      ),
  })
  .strict()
  .describe("A user's Redis with Sentinel: who leads is the master a majority of the Sentinels hands out.");
export type SentinelAttachSpec = z.infer<typeof sentinelAttachSpec>;

/** The systems the harness builds that it cannot attach to yet, and why, in one line each. */
const NOT_ATTACHABLE: Record<string, string> = {
  redis:
    'a plain Redis replication stack cannot be attached to yet (its leader by ROLE needs a probe of its own); attach supports: sentinel',
  pg: 'a Postgres stack cannot be attached to yet (its leader by pg_is_in_recovery() needs a probe of its own); attach supports: sentinel',
  patroni: 'a Patroni stack cannot be attached to yet; attach supports: sentinel',
  mongo: 'a MongoDB replica set cannot be attached to yet; attach supports: sentinel',
  web: "a web tier cannot be attached to (its probe needs the harness's load balancer); attach supports: sentinel",
};

/** A key that is never valid, refused with its reason (and closed to an editor: `not: {}`). */
const refused = (why: string) =>
  z
    .never({ errorMap: () => ({ message: why }) })
    .optional()
    .describe(`Not attachable: ${why}`);

export const attachSpec = z
  .object({
    sentinel: sentinelAttachSpec.optional(),
    ...Object.fromEntries(Object.entries(NOT_ATTACHABLE).map(([k, why]) => [k, refused(why)])),
  })
  .strict()
  .refine((a) => Object.values(a).some((v) => v !== undefined), {
    message: `attach needs one system kind: ${ATTACH_KINDS.join(', ')}`,
  })
  .describe(
    "A stack already running on the Docker engine, to attach to instead of building one (kinds: sentinel). The harness never starts, restarts or removes the user's containers; a killed one stays stopped.",
  );
export type AttachSpec = { sentinel?: SentinelAttachSpec };

/** The roles an attached Sentinel stack's targets name. */
export const SENTINEL_ATTACH_ROLES = {
  master: 'the data node a majority of the Sentinels hands out as the master',
  replica: 'every other data node',
  any: 'one data node, picked at random',
  sentinel: 'every container that runs a Sentinel (and no data node)',
} as const;

/** A selector in words, as errors name it. */
export function describeSelector(s: AttachSelector): string {
  return 'label' in s ? `label ${s.label}` : `Compose project ${s.compose}`;
}

/**
 * What is wrong with a scenario that attaches: one sentence per problem, with its path. The
 * stack's own kinds were checked by the schema; here, what the rest of the scenario asks of it.
 */
export function attachProblems(scenario: {
  stack: object;
  probes: readonly object[];
  faults: readonly object[];
}): { path: (string | number)[]; message: string }[] {
  const s = scenario as {
    stack: Record<string, unknown>;
    probes: { kind: string; via?: unknown }[];
    faults: { action: string; target: string; from?: string; registry?: boolean }[];
  };
  const out: { path: (string | number)[]; message: string }[] = [];
  const attach = s.stack.attach as AttachSpec | undefined;
  // No kind it can attach to: the schema said why, in one line; nothing more to say here.
  if (!attach?.sentinel) return out;
  const built = Object.keys(s.stack).filter((k) => k !== 'attach' && s.stack[k] !== undefined);
  if (built.length)
    out.push({
      path: ['stack', built[0]!],
      message: `a stack is attached to or built, not both: remove stack.${built.join(', stack.')} or stack.attach`,
    });
  s.probes.forEach((p, i) => {
    if (attach.sentinel && p.kind === 'sentinel-writer') {
      if (p.via !== 'sentinels')
        out.push({
          path: ['probes', i, 'via'],
          message:
            'an attached Sentinel stack has no proxy of the harness: the sentinel-writer writes via: sentinels',
        });
      return;
    }
    out.push({
      path: ['probes', i, 'kind'],
      message: `a ${p.kind} probe cannot write to an attached stack; attached sentinel: kind sentinel-writer, via: sentinels`,
    });
  });
  s.faults.forEach((f, i) => {
    const refused = ATTACH_FAULT_REFUSALS[f.action as keyof typeof ATTACH_FAULT_REFUSALS];
    if (!(ATTACH_FAULTS as readonly string[]).includes(f.action))
      out.push({
        path: ['faults', i, 'action'],
        message: `${f.action} cannot be done to an attached stack: ${refused ?? 'it is not a fault of the provider'}`,
      });
    if (f.registry)
      out.push({
        path: ['faults', i, 'registry'],
        message: 'an attached stack has no registry of the harness to be cut off from',
      });
    for (const key of ['target', 'from'] as const) {
      const sel = f[key];
      if (!sel) continue;
      const [kind, arg] = sel.split(':') as [string, string];
      if (kind === 'node' || kind === 'az') continue; // checked once the containers are found
      if (kind !== 'sentinel' || !attach.sentinel)
        out.push({
          path: ['faults', i, key],
          message: `${sel}: an attached stack's targets are sentinel:<role>, node:CONTAINER or az:X`,
        });
      else if (!(arg in SENTINEL_ATTACH_ROLES))
        out.push({
          path: ['faults', i, key],
          message: `'${arg}' is not a role of an attached Sentinel stack; its targets: ${Object.keys(
            SENTINEL_ATTACH_ROLES,
          )
            .map((r) => `sentinel:${r}`)
            .join(', ')}`,
        });
    }
  });
  return out;
}
