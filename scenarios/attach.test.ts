import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChaosError } from '../core/errors.ts';
import { loadScenario } from './load.ts';

const dir = mkdtempSync(join(tmpdir(), 'chaos-attach-'));
let n = 0;
function load(text: string) {
  const p = join(dir, `s${++n}.yaml`);
  writeFileSync(p, text);
  return loadScenario(p);
}
function problem(text: string): string {
  try {
    load(text);
  } catch (err) {
    if (err instanceof ChaosError) return err.message;
    throw err;
  }
  throw new Error('expected the scenario to be refused');
}
const scenario = (
  stack: string,
  probe = '{ kind: sentinel-writer, via: sentinels }',
  fault = '{ action: kill, target: sentinel:master }',
) => `name: attached\nstack:\n  attach:\n${stack}\nprobes: [${probe}]\nfaults: [${fault}]\n`;
const sentinel = '    sentinel: { select: { label: com.example.stack=shop } }';

describe('stack.attach', () => {
  it('takes a Sentinel stack by label or by Compose project, with defaults', () => {
    const { scenario: s } = load(scenario(sentinel));
    expect((s.stack as { attach?: unknown }).attach).toEqual({
      sentinel: {
        select: { label: 'com.example.stack=shop' },
        masterName: 'mymaster',
        port: 6379,
        sentinelPort: 26379,
        endpoints: 'network',
      },
    });
    load(
      scenario('    sentinel: { select: { compose: shop }, azLabel: com.example.az, endpoints: published }'),
    );
    load(
      scenario(
        sentinel,
        undefined,
        '{ action: partition, target: node:shop-redis-1, from: sentinel:sentinel, durationMs: 1000 }',
      ),
    );
  });

  it('takes a plain Redis replication and a Postgres streaming replication, with defaults', () => {
    const { scenario: r } = load(
      scenario(
        '    redis: { select: { label: com.example.stack=shop } }',
        '{ kind: redis-writer }',
        '{ action: kill, target: redis:replica }',
      ),
    );
    expect((r.stack as { attach?: unknown }).attach).toEqual({
      redis: { select: { label: 'com.example.stack=shop' }, port: 6379, endpoints: 'network' },
    });
    const { scenario: p } = load(
      scenario(
        '    pg: { select: { compose: shop }, azLabel: com.example.az }',
        '{ kind: pg-writer }',
        '{ action: pause, target: pg:primary, durationMs: 3000 }',
      ),
    );
    expect((p.stack as { attach?: unknown }).attach).toEqual({
      pg: {
        select: { compose: 'shop' },
        port: 5432,
        user: 'postgres',
        password: 'postgres',
        database: 'postgres',
        azLabel: 'com.example.az',
        endpoints: 'network',
      },
    });
    load(
      scenario(
        '    pg: { select: { label: a=b }, port: 5433, user: app, password: s3cret, database: shop, endpoints: published }',
        '{ kind: pg-writer }',
        '{ action: kill, target: pg:standby }',
      ),
    );
    // Both at once: each probe writes to its own kind, each target names its own.
    load(
      'name: both\nstack:\n  attach:\n    redis: { select: { label: a=b } }\n    pg: { select: { label: c=d } }\nprobes: [{ kind: redis-writer, name: r }, { kind: pg-writer, name: p }]\nfaults: [{ action: kill, target: redis:master }, { at: 1000, action: stop, target: pg:any, durationMs: 500 }]\n',
    );
  });

  it("takes the Redis logins every client of the harness's sends: the nodes', and the Sentinels' own", () => {
    const { scenario: r } = load(
      scenario(
        '    redis: { select: { label: a=b }, username: app, password: s3cret }',
        '{ kind: redis-writer }',
        '{ action: kill, target: redis:replica }',
      ),
    );
    expect((r.stack as { attach?: { redis?: unknown } }).attach?.redis).toMatchObject({
      username: 'app',
      password: 's3cret',
    });
    const { scenario: s } = load(
      scenario(
        '    sentinel: { select: { label: a=b }, password: data-secret, sentinelPassword: sentinel-secret }',
      ),
    );
    expect((s.stack as { attach?: { sentinel?: unknown } }).attach?.sentinel).toMatchObject({
      password: 'data-secret',
      sentinelPassword: 'sentinel-secret',
    });
    expect(
      problem(
        scenario(
          '    redis: { select: { label: a=b }, password: "" }',
          '{ kind: redis-writer }',
          '{ action: kill, target: redis:master }',
        ),
      ),
    ).toMatch(/password/);
  });

  it("takes a Patroni cluster, with defaults; its targets are the built system's but etcd", () => {
    const { scenario: p } = load(
      scenario(
        '    patroni: { select: { label: com.example.stack=shop }, password: s3cret }',
        '{ kind: pg-writer }',
        '{ action: kill, target: patroni:leader }',
      ),
    );
    expect((p.stack as { attach?: unknown }).attach).toEqual({
      patroni: {
        select: { label: 'com.example.stack=shop' },
        restPort: 8008,
        port: 5432,
        user: 'postgres',
        password: 's3cret',
        database: 'postgres',
        endpoints: 'network',
      },
    });
    for (const role of ['primary', 'replica', 'any'])
      load(
        scenario(
          '    patroni: { select: { compose: shop }, restPort: 8009 }',
          '{ kind: pg-writer }',
          `{ action: pause, target: patroni:${role}, durationMs: 1000 }`,
        ),
      );
    expect(
      problem(
        scenario(
          '    patroni: { select: { compose: shop } }',
          '{ kind: pg-writer }',
          '{ action: kill, target: patroni:etcd }',
        ),
      ),
    ).toMatch(
      /'etcd' is not a role of an attached Patroni stack; its targets: patroni:leader, patroni:primary, patroni:replica, patroni:any/,
    );
    // pg and patroni both: the pg-writer could not tell which to write to.
    expect(
      problem(
        'name: both\nstack:\n  attach:\n    pg: { select: { label: a=b } }\n    patroni: { select: { label: c=d } }\nprobes: [{ kind: pg-writer }]\nfaults: [{ action: kill, target: patroni:leader }]\n',
      ),
    ).toMatch(/attach pg or patroni, not both/);
  });

  it("takes a MongoDB replica set, with defaults; its targets are the built set's", () => {
    const { scenario: m } = load(
      scenario(
        '    mongo: { select: { compose: shop }, azLabel: com.example.az }',
        '{ kind: mongo-writer, connect: endpoint-record }',
        '{ action: kill, target: mongo:primary }',
      ),
    );
    expect((m.stack as { attach?: unknown }).attach).toEqual({
      mongo: { select: { compose: 'shop' }, port: 27017, maxLagMs: 2000, azLabel: 'com.example.az' },
    });
    for (const role of ['secondary', 'arbiter', 'any'])
      load(
        scenario(
          '    mongo: { select: { label: a=b } }',
          '{ kind: mongo-writer }',
          `{ action: kill, target: mongo:${role} }`,
        ),
      );
    // Reached as the set's config names its members, on their network: no published ports.
    expect(
      problem(
        scenario(
          '    mongo: { select: { label: a=b }, endpoints: published }',
          '{ kind: mongo-writer }',
          '{ action: kill, target: mongo:primary }',
        ),
      ),
    ).toMatch(/endpoints/);
    expect(
      problem(
        scenario(
          '    mongo: { select: { label: a=b } }',
          '{ kind: pg-writer }',
          '{ action: kill, target: mongo:primary }',
        ),
      ),
    ).toMatch(/a pg-writer probe cannot write to this attached stack; attached mongo: kind mongo-writer/);
  });

  it('refuses the kinds it cannot attach to, in one line naming them', () => {
    const one = (kind: string) => {
      const msg = problem(scenario(`    ${kind}: { select: { label: a=b } }`));
      expect(msg.split('\n')).toHaveLength(1);
      return msg;
    };
    expect(one('web')).toMatch(
      /stack\.attach\.web'.*load balancer.*attach supports: sentinel, redis, pg, patroni, mongo/,
    );
  });

  it('refuses a probe or a target of another kind than the one attached, and a field the kind has not', () => {
    const redis = '    redis: { select: { label: a=b } }';
    const pg = '    pg: { select: { label: a=b } }';
    expect(problem(scenario(redis, '{ kind: pg-writer }', '{ action: kill, target: redis:master }'))).toMatch(
      /a pg-writer probe cannot write to this attached stack; attached redis: kind redis-writer/,
    );
    expect(problem(scenario(pg, '{ kind: pg-writer }', '{ action: kill, target: pg:head }'))).toMatch(
      /'head' is not a role of an attached Postgres stack; its targets: pg:primary, pg:standby, pg:any/,
    );
    expect(
      problem(scenario(redis, '{ kind: redis-writer }', '{ action: kill, target: redis:head }')),
    ).toMatch(
      /'head' is not a role of an attached Redis stack; its targets: redis:master, redis:replica, redis:any/,
    );
    expect(
      problem(scenario(redis, '{ kind: redis-writer }', '{ action: kill, target: pg:primary }')),
    ).toMatch(/pg:primary: an attached stack's targets are redis:<role>, node:CONTAINER or az:X/);
    expect(
      problem(scenario(redis, '{ kind: redis-writer }', '{ action: fill-disk, target: redis:master }')),
    ).toMatch(/fill-disk cannot be done to an attached stack/);
    expect(
      problem(
        scenario(
          '    redis: { select: { label: a=b }, masterName: x }',
          '{ kind: redis-writer }',
          '{ action: kill, target: redis:master }',
        ),
      ),
    ).toMatch(/masterName/);
    expect(
      problem(
        scenario(
          '    pg: { select: { label: a=b }, user: "" }',
          '{ kind: pg-writer }',
          '{ action: kill, target: pg:primary }',
        ),
      ),
    ).toMatch(/user/);
  });

  it("refuses what an attached stack cannot have: the harness's proxy, its registry, its disks, a built system beside it", () => {
    expect(problem(scenario(sentinel, '{ kind: sentinel-writer, via: proxy }'))).toMatch(/via: sentinels/);
    expect(problem(scenario(sentinel, '{ kind: redis-writer }'))).toMatch(
      /redis-writer probe cannot write to this attached stack/,
    );
    expect(
      problem(scenario(sentinel, undefined, '{ action: freeze-volume, target: sentinel:master }')),
    ).toMatch(/freeze-volume cannot be done to an attached stack/);
    expect(
      problem(
        scenario(
          sentinel,
          undefined,
          '{ action: partition, target: sentinel:master, from: sentinel:replica, registry: true }',
        ),
      ),
    ).toMatch(/no registry of the harness/);
    expect(problem(scenario(sentinel, undefined, '{ action: kill, target: sentinel:proxy }'))).toMatch(
      /'proxy' is not a role of an attached Sentinel stack/,
    );
    expect(
      problem(
        `name: mixed\nstack:\n  redis: {}\n  attach:\n${sentinel}\nprobes: [{ kind: sentinel-writer, via: sentinels }]\nfaults: [{ action: kill, target: sentinel:master }]\n`,
      ),
    ).toMatch(/attached to or built, not both/);
    expect(problem(scenario('    sentinel: { select: { label: "" } }'))).toMatch(/label/);
  });
});
