/**
 * Entry point of the endpoint agent inside a node (bundled by agents/bundle.ts, run by Node.js in
 * a container that shares the mongod container's network namespace and its /etc/hosts).
 */
import { registryFromUrl } from '../../agents/registry/from-url.ts';
import { agentRuntime, stepped } from '../../agents/runtime.ts';
import { EndpointAgent } from './agent.ts';
import { adminOnce, directClient } from './client.ts';
import type { ReplSetConfig } from './plan.ts';
import { parseHello, parseStatus } from './status.ts';

const { env, emit, step } = agentRuntime('endpoint agent', () => process.env.NODE_NAME ?? '?');

export async function main(): Promise<void> {
  const self = env('NODE_NAME');
  const port = Number(env('MONGO_PORT', '27017'));
  const pingTimeoutMs = Number(env('PING_TIMEOUT_MS', '1000'));
  const initiate = process.env.INITIATE ? (JSON.parse(process.env.INITIATE) as ReplSetConfig) : undefined;
  const priorities = process.env.PRIORITIES
    ? (JSON.parse(process.env.PRIORITIES) as Record<string, number>)
    : undefined;

  // One connection to the local member, kept (the driver reconnects after a restart); the
  // agent's own calls time out within a second or two, well inside the runtime's watchdog.
  const local = directClient({ host: '127.0.0.1', port }, pingTimeoutMs);
  const admin = local.db('admin');
  const command = (doc: Record<string, unknown>) =>
    step(`local ${Object.keys(doc)[0]}`, () => admin.command(doc));

  const agent = new EndpointAgent(
    {
      self,
      members: env('MEMBERS').split(','),
      endpointRecord: env('ENDPOINT_RECORD'),
      termRecord: env('TERM_RECORD'),
      recordTtlMs: Number(env('RECORD_TTL_MS', '1000')),
      checkIntervalMs: Number(env('CHECK_INTERVAL_MS', '200')),
      ...(initiate ? { initiate } : {}),
      ...(priorities ? { priorities } : {}),
    },
    {
      local: {
        hello: async () => {
          try {
            return parseHello(await command({ hello: 1 }));
          } catch {
            return null;
          }
        },
        status: async () => {
          try {
            return parseStatus(await command({ replSetGetStatus: 1 }));
          } catch {
            return null;
          }
        },
        initiate: async (config) => {
          await command({ replSetInitiate: config });
        },
        config: async () => {
          try {
            return ((await command({ replSetGetConfig: 1 })).config ?? null) as Record<
              string,
              unknown
            > | null;
          } catch {
            return null;
          }
        },
        reconfig: async (config) => {
          await command({ replSetReconfig: config, maxTimeMS: 2000 });
        },
      },
      peerAnswers: async (host) => {
        const [h, p] = host.split(':');
        const [answer] = await step(`hello ${host}`, () =>
          adminOnce({ host: h!, port: Number(p ?? port) }, [{ hello: 1 }], pingTimeoutMs),
        ).catch(() => [undefined]);
        return answer !== undefined && !(answer instanceof Error);
      },
      registry: stepped(step, 'registry', registryFromUrl(env('REGISTRY_URL'))),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      emit,
    },
  );
  process.on('SIGTERM', () => {
    agent.stop();
    process.exit(0);
  });
  emit('agent-started', { pid: process.pid, initiator: initiate !== undefined });
  // Ready once the local member answers (the set may not be formed yet: awaitReady waits for that).
  for (;;) {
    const r = await agent.tick().catch((err) => {
      emit('agent-error', { error: String(err) });
      return 'local-down' as const;
    });
    if (r !== 'local-down') break;
    await new Promise((res) => setTimeout(res, 100));
  }
  emit('agent-ready', {});
  await agent.run();
}
