import { describe, expect, it } from 'vitest';
import { ChaosError } from '../../core/errors.ts';
import { parseRoute53Url, registryFromUrl, route53Url } from './from-url.ts';
import { HttpRegistry } from './http-client.ts';
import { Route53Registry } from './route53.ts';

describe('registryFromUrl', () => {
  it('gives the local registry for http(s)://', () => {
    expect(registryFromUrl('http://registry:8053')).toBeInstanceOf(HttpRegistry);
    expect(registryFromUrl('https://registry.example:443/')).toBeInstanceOf(HttpRegistry);
  });

  it("gives the stack's Route 53 zone for route53://<zone id>/<domain>?region=, the SDK loaded on the first call", async () => {
    // Its calls against moto: test/integration/route53-agents.test.ts. Here, that the first call
    // goes to Route 53 (an endpoint that refuses, so that nothing leaves this machine).
    const before = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:9';
    try {
      const r = registryFromUrl('route53://Z0123ABC/run-3f9a1c07.chaos.internal?region=eu-west-1', {
        timeoutMs: 500,
      });
      expect(r).not.toBeInstanceOf(HttpRegistry);
      await expect(r.get('redis-head')).rejects.toThrow();
    } finally {
      if (before === undefined) Reflect.deleteProperty(process.env, 'AWS_ENDPOINT_URL');
      else process.env.AWS_ENDPOINT_URL = before;
    }
    expect(
      new Route53Registry({
        zoneId: 'Z0123ABC',
        domain: 'run-3f9a1c07.chaos.internal',
        region: 'eu-west-1',
      }).hostname('redis-head'),
    ).toBe('redis-head.run-3f9a1c07.chaos.internal');
  });

  it('reads the zone id bare or as hostedzone/, the region defaulting to us-east-1', () => {
    expect(parseRoute53Url('route53://hostedzone/Z0123/Z.Chaos.Internal.')).toEqual({
      zoneId: 'Z0123',
      domain: 'z.chaos.internal',
      region: 'us-east-1',
    });
    expect(parseRoute53Url(route53Url('/hostedzone/Z9', 'a.chaos.internal.', 'ap-southeast-2'))).toEqual({
      zoneId: 'Z9',
      domain: 'a.chaos.internal',
      region: 'ap-southeast-2',
    });
  });

  it('refuses what it cannot read, naming the variable and both forms', () => {
    for (const bad of [
      '',
      'registry:8053',
      'ftp://registry',
      'route53://',
      'route53://Z0123',
      'route53://Z0123/nodots',
      'route53://Z0123/a.chaos.internal?region=mars',
      'route53://Z0123/a.chaos.internal?zone=x',
    ]) {
      let err: unknown;
      try {
        registryFromUrl(bad);
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(ChaosError);
      expect((err as ChaosError).code).toBe('BAD_REGISTRY_URL');
      expect((err as Error).message).toContain(`REGISTRY_URL='${bad}'`);
    }
  });
});
