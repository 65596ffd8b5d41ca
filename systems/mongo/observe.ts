import { sleep } from '../../core/clock.ts';
import { InfraError, InterruptedError } from '../../core/errors.ts';
import type { Stack } from '../../core/provider.ts';
import type { SystemState } from '../../core/result.ts';
import { adminOnce } from './client.ts';
import { mongoViolations } from './invariants.ts';
import { hostOf, mongoNodeNames } from './layout.ts';
import { firstPrimary, targetPriorities } from './plan.ts';
import { readEndpoint } from './records.ts';
import type { MongoSpec } from './spec.ts';
import { type MemberAccount, mongoState, parseHello, parseStatus } from './status.ts';

const FORM_TIMEOUT_MS = 120_000;
const ASK_TIMEOUT_MS = 500;

/** One member's own account (`hello`, `replSetGetStatus`) over its mapped port; null when it does not answer. */
export async function askMember(stack: Stack, node: string): Promise<MemberAccount | null> {
  const [hello, status] = await adminOnce(
    stack.endpoint(node),
    [{ hello: 1 }, { replSetGetStatus: 1 }],
    ASK_TIMEOUT_MS,
  ).catch(() => [] as (Error | Record<string, unknown>)[]);
  if (!hello || hello instanceof Error) return null;
  // No status before the set has a config (NotYetInitialized), or from a member that lost it.
  return {
    hello: parseHello(hello),
    status: status && !(status instanceof Error) ? parseStatus(status) : null,
  };
}

/** Who the endpoint record names, each member's own account, the members in order. */
export async function observeMongo(stack: Stack): Promise<SystemState> {
  const nodes = stack.nodes().filter((n) => n.system === 'mongo');
  const [leader, accounts] = await Promise.all([
    readEndpoint(stack.registry()),
    Promise.all(nodes.map(async (n) => [n.name, await askMember(stack, n.name)] as const)),
  ]);
  return mongoState(nodes, new Map(accounts), leader);
}

/** Whether the primary's config holds the scenario's priorities (the initiating agent puts them back). */
async function prioritiesSettled(stack: Stack, primary: string, spec: MongoSpec): Promise<boolean> {
  const [answer] = await adminOnce(stack.endpoint(primary), [{ replSetGetConfig: 1 }], ASK_TIMEOUT_MS);
  if (!answer || answer instanceof Error) return false;
  const members = ((answer.config as { members?: { host: string; priority?: number }[] })?.members ?? []) as {
    host: string;
    priority?: number;
  }[];
  const want = targetPriorities(spec);
  return Object.entries(want).every(([host, p]) => members.find((m) => m.host === host)?.priority === p);
}

/**
 * Waits until the set has formed as planned: every member in it, the first primary leading with
 * the endpoint record naming it, every secondary syncing from it, the scenario's priorities in
 * force.
 */
export async function awaitMongo(stack: Stack, spec: MongoSpec, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + FORM_TIMEOUT_MS;
  const expected = mongoNodeNames(spec).length;
  const first = firstPrimary(spec);
  for (;;) {
    if (signal?.aborted) throw new InterruptedError(String(signal.reason));
    const t = await observeMongo(stack);
    const v = mongoViolations(t, spec);
    if (
      v.length === 0 &&
      t.members.length === expected &&
      t.leader === first &&
      (await prioritiesSettled(stack, first, spec).catch(() => false))
    )
      return;
    if (Date.now() > deadline) {
      const roles = t.nodes
        .map((n) => `${n.name} ${n.reachable ? (n.role ?? '?') : 'unreachable'}`)
        .join(', ');
      throw new InfraError(
        'MONGO_NOT_FORMED',
        `the Mongo replica set did not form within ${FORM_TIMEOUT_MS} ms: endpoint ${t.leader ?? 'none'} (expected ${hostOf(first)}), ${roles}${v.length ? `; ${v.join('; ')}` : ''}`,
        {
          hint: "see the members' and agents' logs in the run folder's logs/ (the first primary's agent initiates the set); `chaos cleanup` removes leftovers",
        },
      );
    }
    await sleep(250, signal);
  }
}
