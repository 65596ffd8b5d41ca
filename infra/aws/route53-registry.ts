/**
 * The registry on the stack's private Route 53 zone. Its implementation lives with the agents
 * (agents/registry/route53.ts), which reach the same zone from the nodes through
 * `REGISTRY_URL=route53://...`; the harness's side imports it from there.
 */
export {
  type RecordSetApi,
  Route53Registry,
  type Route53RegistryOptions,
  dnsTtlSeconds,
  isConflict,
  route53ClientConfig,
  route53RecordSets,
} from '../../agents/registry/route53.ts';
