import type { Stack } from '../../core/provider.ts';
import type { SystemState } from '../../core/result.ts';
import { parseCluster } from './cluster.ts';
import { REST_PORT } from './config.ts';
import { isPostgresNode } from './layout.ts';
import { LEADER_RECORD } from './leader-mirror.ts';

/** A node's REST API answer as JSON (any status: Patroni answers 503 with a body too). */
export async function restJson(stack: Pick<Stack, 'endpoint'>, node: string, path: string, timeoutMs = 800) {
  const ep = stack.endpoint(node, REST_PORT);
  const res = await fetch(`http://${ep.host}:${ep.port}${path}`, { signal: AbortSignal.timeout(timeoutMs) });
  return (await res.json()) as unknown;
}

const postgresNodes = (stack: Pick<Stack, 'nodes'>) =>
  stack
    .nodes()
    .filter((n) => isPostgresNode(n.name))
    .sort((a, b) => a.index - b.index)
    .map((n) => n.name);

/**
 * Who holds the leader key: the registry's mirror of it (leader-mirror.ts), or, before the
 * mirror has written it, the first answer of a node's `/cluster`.
 */
export async function readLeader(
  stack: Pick<Stack, 'registry' | 'endpoint' | 'nodes'>,
): Promise<string | null> {
  const mirrored = (
    await stack
      .registry()
      .get(LEADER_RECORD)
      .catch(() => undefined)
  )?.value;
  if (mirrored) return mirrored;
  for (const node of postgresNodes(stack)) {
    try {
      const leader = parseCluster(await restJson(stack, node, '/cluster', 500)).leader;
      if (leader) return leader;
    } catch {
      // that node does not answer: the next
    }
  }
  return null;
}

/** The leader and the Postgres nodes (the leader first), for targets at the moment of injection. */
export async function patroniRecords(stack: Stack): Promise<Pick<SystemState, 'leader' | 'members'>> {
  const leader = await readLeader(stack);
  const members = postgresNodes(stack);
  return { leader, members: leader ? [leader, ...members.filter((m) => m !== leader)] : members };
}
