export type { Lease, Registry, RegistryRecord } from '../../core/registry.ts';

/** The port the local registry server listens on, on the run's network. */
export const REGISTRY_PORT = 8053;
