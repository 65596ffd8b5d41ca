/** The local registry server's entry point inside its container (see agents/bundle.ts). */
import { startRegistryServer } from './server.ts';

export async function main(): Promise<void> {
  const server = startRegistryServer(Number(process.env.REGISTRY_PORT ?? 8053));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
