/** The single bundle that runs in containers: CHAOS_ENTRY picks the program. */
import { main as agentMain } from '../systems/redis/agent-main.ts';
import { startRegistryServer } from './registry/server.ts';

const entry = process.env.CHAOS_ENTRY;
if (entry === 'registry') {
  const server = startRegistryServer(Number(process.env.REGISTRY_PORT ?? 8053));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
} else if (entry === 'redis-chain-agent') {
  agentMain().catch((err) => {
    process.stdout.write(`${JSON.stringify({ t: Date.now(), type: 'agent-crashed', error: String(err) })}\n`);
    process.exit(1);
  });
} else {
  process.stderr.write(`CHAOS_ENTRY must be registry or redis-chain-agent, not ${entry}\n`);
  process.exit(2);
}
