import { InfraError } from '../../core/errors.ts';
import type { Registry } from '../../core/registry.ts';
import { HttpRegistry } from './http-client.ts';
import type { Route53Registry } from './route53.ts';

/**
 * The registry an agent is given as `REGISTRY_URL`, whichever provider runs it:
 *
 * - `http://registry:8053` (http or https): the local registry server on the run's network
 *   (agents/registry/server.ts), through HttpRegistry;
 * - `route53://<hosted zone id>/<domain>?region=<region>` (on AWS, written by
 *   infra/aws/user-data.ts): the stack's private Route 53 zone, through the same Route53Registry
 *   the harness reads it with (agents/registry/route53.ts). The zone id may be given bare
 *   (`Z0123...`) or as `hostedzone/Z0123...`; the region defaults to us-east-1 (Route 53 is
 *   global; the region only picks the SDK's partition); AWS_ENDPOINT_URL(_ROUTE_53) and the
 *   SDK's credential chain (on a node, its instance role) apply.
 *
 * `timeoutMs` is each call's time limit (HttpRegistry's request timeout, Route53Registry's
 * `callTimeoutMs`).
 */
export function registryFromUrl(url: string, opts: { timeoutMs?: number } = {}): Registry {
  const text = url.trim();
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw bad(url, 'it is not a URL');
  }
  if (u.protocol === 'http:' || u.protocol === 'https:')
    return new HttpRegistry(text.replace(/\/+$/, ''), opts.timeoutMs);
  if (u.protocol === 'route53:') {
    const { zoneId, domain, region } = parseRoute53Url(text);
    // The AWS SDK is loaded on the first call only: a local agent (http://) never evaluates it.
    return lazyRegistry(
      import('./route53.ts').then(
        ({ Route53Registry: R53 }): Route53Registry =>
          new R53({
            zoneId,
            domain,
            region,
            ...(opts.timeoutMs !== undefined ? { callTimeoutMs: opts.timeoutMs } : {}),
          }),
      ),
    );
  }
  throw bad(url, `its scheme '${u.protocol}' is neither http(s): nor route53:`);
}

/** The parts of `route53://<zone id>/<domain>?region=<region>`. */
export function parseRoute53Url(url: string): { zoneId: string; domain: string; region: string } {
  const m = /^route53:\/\/(?:hostedzone\/)?([A-Za-z0-9]+)\/([^/?#]+)\/?(?:\?([^#]*))?$/.exec(url.trim());
  if (!m) throw bad(url, 'it is not route53://<hosted zone id>/<domain>?region=<region>');
  const params = new URLSearchParams(m[3] ?? '');
  for (const k of params.keys())
    if (k !== 'region') throw bad(url, `'${k}' is not one of its parameters (region)`);
  const region = params.get('region') || 'us-east-1';
  if (!/^[a-z]{2}(?:-[a-z]+)+-\d+$/.test(region)) throw bad(url, `'${region}' is not a region`);
  const domain = decodeURIComponent(m[2]!).replace(/\.$/, '').toLowerCase();
  if (!/^[a-z0-9-]+(?:\.[a-z0-9-]+)+$/.test(domain)) throw bad(url, `'${domain}' is not a domain`);
  return { zoneId: m[1]!, domain, region };
}

/** The URL an agent is given for a stack's zone (what infra/aws/user-data.ts writes, literally). */
export function route53Url(zoneId: string, domain: string, region: string): string {
  return `route53://${zoneId.replace(/^\/?hostedzone\//, '')}/${domain.replace(/\.$/, '')}?region=${region}`;
}

function bad(url: string, why: string): InfraError {
  return new InfraError('BAD_REGISTRY_URL', `REGISTRY_URL='${url}': ${why}`, {
    hint: 'give http://host:port (the local registry) or route53://<hosted zone id>/<domain>?region=<region> (a stack on AWS)',
  });
}

/** A registry whose implementation is still loading: each call waits for it. */
function lazyRegistry(loading: Promise<Registry>): Registry {
  return {
    get: (name) => loading.then((r) => r.get(name)),
    set: (name, value, ttlMs, ifVersion) => loading.then((r) => r.set(name, value, ttlMs, ifVersion)),
    acquireLease: (name, holder, ttlMs) => loading.then((r) => r.acquireLease(name, holder, ttlMs)),
    getLease: (name) => loading.then((r) => r.getLease(name)),
    releaseLease: (name, holder) => loading.then((r) => r.releaseLease(name, holder)),
  };
}
