import { execFileSync, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { parseRoute53Url } from '../../agents/registry/from-url.ts';
import type { ContainerPlan, NodePlan } from '../../core/provider.ts';
import {
  USER_DATA_LIMIT,
  type UserDataContext,
  bootScript,
  contentAssetKey,
  fileAssetKey,
  renderUserData,
  shellQuote,
  stackAssets,
  toEre,
  userDataParts,
} from './user-data.ts';

/** A node shaped as the systems plan theirs: a server with a disk, and an agent sharing its network. */
const BUNDLE = { source: '/tmp/chaos-agents-0123.cjs', target: '/opt/chaos/agents.cjs' };
function sqlNode(extra: Partial<ContainerPlan> = {}): NodePlan {
  return {
    name: 'sql-a',
    system: 'sql',
    az: 'a',
    index: 0,
    main: {
      image: 'sql',
      part: 'sql',
      command: ['bash', '/opt/chaos/sql-node.sh'],
      env: { NODE_NAME: 'sql-a', ROLE: 'primary' },
      ports: [5432],
      readyLog: /chaos-sql-ready/,
      process: 'sqld',
      files: [{ source: '/repo/systems/sql/node.sh', target: '/opt/chaos/sql-node.sh', mode: 0o755 }],
      volumes: [
        { name: 'data', path: '/var/lib/sql', disk: true },
        { name: 'archive', path: '/archive' },
        { name: 'control', path: '/control' },
      ],
      ...extra,
    },
    sidecars: [
      {
        image: 'node',
        part: 'agent',
        command: ['node', BUNDLE.target],
        env: { CHAOS_ENTRY: 'sql-agent', NODE_NAME: 'sql-a', WRITER_TTL_MS: '1000' },
        files: [BUNDLE],
        volumes: [{ name: 'control', path: '/control' }],
        readyLog: /"agent-ready"/,
        restartOnFailure: true,
      },
    ],
  };
}

const CTX: UserDataContext = {
  runId: 'run1',
  scenario: 'sql-kill',
  images: { sql: 'postgres:15', node: 'node:20-bookworm-slim' },
  disks: 'ebs',
  ec2: true,
  sharedVolumes: ['archive'],
  diskDevices: { data: { device: '/dev/sdf', sizeGiB: 20 } },
};
const SETTINGS = {
  assets: 's3://bucket/run1',
  region: 'us-east-1',
  zoneId: 'Z0123',
  zoneName: 'chaos-sql-kill-run1.chaos.internal',
  efs: 'fs-0123.efs.us-east-1.amazonaws.com',
  stack: 'chaos-sql-kill-run1',
  signalResource: 'AsgSqlA',
};

const HOSTILE = [
  '',
  "'",
  "''",
  `it's`,
  '"double"',
  '$(touch /tmp/chaos-pwned)',
  '`touch /tmp/chaos-pwned`',
  '${HOME}',
  '$HOME',
  'back\\slash\\',
  'new\nline',
  '\ttab',
  '*',
  '; rm -rf /tmp/chaos-nothing',
  '&& echo no',
  '| cat',
  '--',
  '-e',
  '!history',
  `'; echo "escaped" ; '`,
  `'\\''`,
  'unicode: é ☃ 𝄞',
  'a=b c=d',
  '\x01\x7f control',
];

/** What bash makes of one word: printf %s of it, byte for byte. */
function bashWord(word: string): string {
  return execFileSync('bash', ['-c', `printf %s ${word}`], { encoding: 'utf8' });
}

/** The `up ...` calls of a boot script, each as the arguments bash passes (an `up` that prints them). */
function upCalls(script: string, env: Record<string, string> = {}): string[][] {
  // The calls run from the first `up main` to the readiness file (values may span lines).
  const calls = script.slice(
    script.indexOf('\nup main ') + 1,
    script.indexOf('\ntouch /var/run/chaos-node-ready'),
  );
  // Each call as its argument count, then its arguments, each ended by a NUL.
  const registry = script.split('\n').find((l) => l.startsWith('registry_url() '));
  const program = `up() { printf '%s\\0' "$#" "$@"; }\n${registry ?? ''}\n${calls}`;
  const fields = execFileSync('bash', ['-c', program], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  }).split('\0');
  const out: string[][] = [];
  for (let i = 0; i < fields.length - 1; ) {
    const n = Number(fields[i]);
    out.push(fields.slice(i + 1, i + 1 + n));
    i += 1 + n;
  }
  return out;
}

const haveShellcheck = spawnSync('sh', ['-c', 'command -v shellcheck'], { stdio: 'ignore' }).status === 0;

describe('shellQuote', () => {
  it('gives bash back every hostile string exactly, as one word', () => {
    for (const s of HOSTILE) expect(bashWord(shellQuote(s))).toBe(s);
  });

  it('keeps a string one word wherever it goes (no splitting, no globbing)', () => {
    const out = execFileSync('bash', ['-c', `set -- ${HOSTILE.map(shellQuote).join(' ')}; echo $#`], {
      encoding: 'utf8',
    });
    expect(Number(out.trim())).toBe(HOSTILE.length);
  });

  it('refuses a NUL byte, which no shell word can hold', () => {
    expect(() => shellQuote('a\0b')).toThrow(/NUL/);
  });
});

describe('toEre', () => {
  it("keeps the plans' patterns as they are", () => {
    expect(toEre(/"agent-ready"/, 'x').ere).toBe('"agent-ready"');
    expect(toEre(/Loading success|New worker/, 'x').ere).toBe('Loading success|New worker');
    expect(toEre(/Ready to accept connections/, 'x').ere).toBe('Ready to accept connections');
  });

  it('translates \\d \\s \\w and escaped punctuation, and keeps the i flag', () => {
    expect(toEre(/ready\s+in \d+\.\d ms \w/i, 'x')).toEqual({
      ere: 'ready[[:space:]]+in [0-9]+\\.[0-9] ms [[:alnum:]_]',
      ignoreCase: true,
    });
  });

  it('refuses what grep -E reads otherwise than JavaScript', () => {
    expect(() => toEre(/ready(?=!)/, 'sql-a')).toThrow(/sql-a.*\(\?\.\.\.\) group/);
    expect(() => toEre(/a.*?b/, 'x')).toThrow(/lazy/);
    expect(() => toEre(/(a)\1/, 'x')).toThrow(/escape \\1/);
    expect(() => toEre(/ready/g, 'x')).toThrow(/flags 'g'/);
    expect(() => toEre(/\bready/, 'x')).toThrow(/escape \\b/);
  });

  it('matches in grep -E what the RegExp matches', () => {
    const cases: [RegExp, string, boolean][] = [
      [/"agent-ready"/, '{"t":1,"type":"agent-ready"}', true],
      [/Loading success|New worker/, '[NOTICE] New worker (12) forked', true],
      [/chaos-pg-ready/, 'chaos-pg-rea', false],
      [/ready\s\d+/, 'ready 42', true],
    ];
    for (const [re, line, match] of cases) {
      const { ere } = toEre(re, 'x');
      const r = spawnSync('grep', ['-Eq', '--', ere], { input: `${line}\n` });
      expect(r.status === 0).toBe(match);
      expect(re.test(line)).toBe(match);
    }
  });
});

describe('assets', () => {
  it('lists each file once (the bundle every agent shares), and generated contents by their hash', () => {
    const lb: NodePlan = {
      name: 'lb',
      system: 'web',
      az: '-',
      index: 0,
      main: {
        image: 'haproxy',
        part: 'haproxy',
        command: [],
        readyLog: /x/,
        contents: [{ content: 'global\n', target: '/etc/haproxy.cfg' }],
      },
      sidecars: [],
    };
    const b = { ...sqlNode(), name: 'sql-b' };
    const all = stackAssets({ registry: sqlNode().main, nodes: [sqlNode(), b, lb] });
    expect(all.map((a) => a.key)).toEqual(
      [
        fileAssetKey(BUNDLE.source),
        fileAssetKey('/repo/systems/sql/node.sh'),
        contentAssetKey('global\n', '/etc/haproxy.cfg'),
      ].sort(),
    );
    expect(all.find((a) => a.key.endsWith('node.sh'))?.source).toBe('/repo/systems/sql/node.sh');
    expect(all.find((a) => a.key.startsWith('contents/'))?.content).toBe('global\n');
    // The node an ALB stands for has nothing to fetch.
    expect(
      stackAssets({ registry: sqlNode().main, nodes: [sqlNode(), lb] }, ['lb']).some((a) => a.content),
    ).toBe(false);
    expect(fileAssetKey('/a/node.sh')).not.toBe(fileAssetKey('/b/node.sh'));
    expect(fileAssetKey('/a/we ird$name')).toMatch(/^files\/[0-9a-f]{16}\/we_ird_name$/);
  });
});

describe('renderUserData', () => {
  const script = renderUserData(sqlNode(), CTX, SETTINGS);
  const boot = bootScript(sqlNode(), CTX);

  it('is a bash script cloud-init runs: settings, the boot script, the systemd unit, then the boot script', () => {
    expect(script.startsWith('#!/bin/bash\n')).toBe(true);
    expect(spawnSync('bash', ['-n'], { input: script }).status).toBe(0);
    expect(script).toContain("CHAOS_ASSETS='s3://bucket/run1'\n");
    expect(script).toContain("CHAOS_SIGNAL='AsgSqlA'\n");
    expect(script).toContain(boot);
    expect(script).toContain('ExecStart=/opt/chaos/boot.sh');
    expect(script).toContain('WantedBy=multi-user.target');
    expect(script).toContain('systemctl enable chaos-node.service');
    expect(script.trimEnd().endsWith('exec /opt/chaos/boot.sh')).toBe(true);
    expect(Buffer.byteLength(script)).toBeLessThan(USER_DATA_LIMIT);
  });

  it.skipIf(!haveShellcheck)(
    `passes shellcheck${haveShellcheck ? '' : ' (skipped: shellcheck is not on PATH)'}`,
    () => {
      for (const text of [script, boot]) {
        const r = spawnSync('shellcheck', ['-s', 'bash', '-S', 'warning', '-'], {
          input: text,
          encoding: 'utf8',
        });
        expect(r.stdout).toBe('');
      }
    },
  );

  it('installs Docker with the package manager that is there, and starts it', () => {
    expect(boot).toContain('need docker docker docker.io');
    expect(boot).toContain('if command -v dnf >/dev/null 2>&1; then dnf install -y -q "$2"');
    expect(boot).toContain('apt-get install -y -qq --no-install-recommends "$3"');
    expect(boot).toContain('systemctl enable --now docker');
  });

  it('runs the main container on the host network, then the agent in its namespace, with their files, volumes and ready lines', () => {
    const [main, agent] = upCalls(boot);
    expect(main!.slice(0, 7)).toEqual([
      'main',
      'chaos-run1-sql-a',
      'chaos-sql-ready',
      '-Ec',
      '/var/lib/chaos/stage/sql',
      'opt',
      '--',
    ]);
    expect(main).toContain('--network');
    expect(main![main!.indexOf('--network') + 1]).toBe('host');
    expect(main).toContain('/var/lib/chaos/disks/data/data:/var/lib/sql');
    expect(main).toContain('/var/lib/chaos/shared/archive:/archive');
    expect(main).toContain('/var/lib/chaos/volumes/control:/control');
    expect(main).toContain('io.chaos-harness.run-id=run1');
    expect(main).toContain('io.chaos-harness.node=sql-a');
    expect(main!.slice(-3)).toEqual(['postgres:15', 'bash', '/opt/chaos/sql-node.sh']);
    expect(main).not.toContain('--restart');
    expect(agent!.slice(0, 3)).toEqual(['sidecar', 'chaos-run1-sql-a-agent', '"agent-ready"']);
    expect(agent![agent!.indexOf('--network') + 1]).toBe('container:chaos-run1-sql-a');
    expect(agent![agent!.indexOf('--restart') + 1]).toBe('on-failure:10');
    expect(agent).toContain('/var/lib/chaos/volumes/control:/control');
    expect(agent).toContain('io.chaos-harness.role=agent');
    // The files: fetched by key and staged with their mode.
    expect(boot).toContain(
      `put '${fileAssetKey('/repo/systems/sql/node.sh')}' '/var/lib/chaos/stage/sql/opt/chaos/sql-node.sh' 755`,
    );
    expect(boot).toContain(
      `put '${fileAssetKey(BUNDLE.source)}' '/var/lib/chaos/stage/agent/opt/chaos/agents.cjs' 644`,
    );
  });

  it('passes hostile environment values and arguments through to Docker unchanged', () => {
    const env = Object.fromEntries(HOSTILE.map((v, i) => [`V${i}`, v]));
    const node = sqlNode({ env, command: ['sh', '-c', ...HOSTILE] });
    const [main] = upCalls(bootScript(node, CTX));
    for (const [k, v] of Object.entries(env)) expect(main).toContain(`${k}=${v}`);
    expect(main!.slice(-HOSTILE.length)).toEqual(HOSTILE);
    expect(main![main!.length - HOSTILE.length - 1]).toBe('-c');
  });

  it('mounts each disk by its launch template device (or its size), formats it only when blank, and tags its volume', () => {
    expect(boot).toContain("disk 'data' '/dev/sdf' 20 '/var/lib/chaos/disks/data'");
    expect(boot).toContain('blkid -p "$dev" >/dev/null 2>&1 || mkfs.ext4');
    expect(boot).toContain('nofail');
    expect(boot).toContain('--tags "Key=chaos:volume,Value=$name"');
    const dirs = bootScript(sqlNode(), { ...CTX, disks: 'directory', ec2: false });
    expect(dirs).toContain("mkdir -p '/var/lib/chaos/disks/data/data'");
    expect(dirs).not.toContain('disk()');
  });

  it('mounts the shared volumes from EFS when there is one', () => {
    expect(boot).toContain('nfs4 nfsvers=4.1');
    expect(boot).toContain("mkdir -p '/var/lib/chaos/shared/archive'");
    const none = bootScript(sqlNode(), { ...CTX, sharedVolumes: [] });
    expect(none).not.toContain('CHAOS_EFS');
  });

  it('waits for each ready line since the container last started, and says when the node is ready', () => {
    expect(boot).toContain('since=$(docker inspect -f "{{.State.StartedAt}}" "$name")');
    expect(boot).toContain('touch /var/run/chaos-node-ready');
    expect(boot).toContain('console "chaos-node-ready $NODE"');
    expect(boot).toContain('signal 0 ready');
  });

  it('comes back after a stop and start: existing containers are started again, sidecars rejoin a new main', () => {
    expect(boot).toContain('docker start "$name"');
    expect(boot).toContain('docker restart -t 5 "$name"');
    expect(boot).toContain('docker rename "$name.new" "$name"');
    // Started again, all of a node's containers start before any is awaited: the server waits for its agent.
    expect(boot).toContain('LATER+=("$name" "$ready" "$flags")');
    expect(boot).toContain('while [ $# -gt 0 ]; do ready "$1" "$2" "$3"; shift 3; done');
  });

  it('in a pool, makes the node name at boot and writes it wherever the plan had its own', () => {
    const head: NodePlan = {
      name: 'web-a',
      system: 'web',
      az: 'a',
      index: 1,
      main: {
        image: 'node',
        part: 'web',
        command: ['sh', '-c', `node x; printf '{"node":"web-a"}'`],
        env: { NODE_NAME: 'web-a', PORT: '8080' },
        files: [BUNDLE],
        ports: [8080],
        readyLog: /"head-ready"/,
      },
      sidecars: [],
    };
    const b = bootScript(head, { ...CTX, pool: { prefix: 'web' } });
    expect(b).toContain('NODE=\'web-\'"$AZ-$(imds instance-id)"');
    const [main] = upCalls(b, { NODE: 'web-b-i-0abc' });
    expect(main![1]).toBe('chaos-run1-web-b-i-0abc');
    expect(main).toContain('NODE_NAME=web-b-i-0abc');
    expect(main).toContain('io.chaos-harness.node=web-b-i-0abc');
    expect(main!.at(-1)).toBe(`node x; printf '{"node":"web-b-i-0abc"}'`);
    expect(b).toContain('--tags "Key=chaos:node,Value=$NODE"');
    expect(() => bootScript(head, { ...CTX, ec2: false, pool: { prefix: 'web' } })).toThrow(/EC2/);
  });

  it('refuses user data over 16 KB, saying what to move out', () => {
    const big = sqlNode({ env: { BIG: 'x'.repeat(USER_DATA_LIMIT) } });
    expect(() => renderUserData(big, CTX, SETTINGS)).toThrow(
      /sql-a's user data is \d+ bytes; EC2 takes 16384 at most/,
    );
  });

  it('refuses what it cannot write safely', () => {
    expect(() => renderUserData({ ...sqlNode(), name: 'SQL A' }, CTX, SETTINGS)).toThrow(/not a DNS label/);
    expect(() => renderUserData(sqlNode({ image: 'nosuch' }), CTX, SETTINGS)).toThrow(
      /runs image 'nosuch', and no image reference/,
    );
    expect(() => renderUserData(sqlNode({ env: { 'BAD-NAME': 'x' } }), CTX, SETTINGS)).toThrow(
      /environment variable/,
    );
    expect(() =>
      renderUserData(sqlNode({ volumes: [{ name: 'data', path: '/a:/b', disk: true }] }), CTX, SETTINGS),
    ).toThrow(/not a plain absolute path/);
    expect(() =>
      renderUserData(sqlNode({ files: [{ source: '/x', target: '/opt/../etc/passwd' }] }), CTX, SETTINGS),
    ).toThrow(/not a plain absolute path/);
    expect(() => renderUserData(sqlNode(), { ...CTX, diskDevices: {} }, SETTINGS)).toThrow(/no block device/);
    expect(() =>
      renderUserData(sqlNode({ volumes: [{ name: 'archive', path: '/a', disk: true }] }), CTX, SETTINGS),
    ).toThrow(/shared and a disk/);
  });

  it('keeps a heredoc whole whatever the plan holds', () => {
    const node = sqlNode({ env: { X: '\nCHAOS_BOOT\nCHAOS_ENV\n' } });
    const text = renderUserData(node, CTX, SETTINGS);
    expect(text).toContain("cat >/opt/chaos/boot.sh <<'CHAOS_BOOT_'");
    expect(spawnSync('bash', ['-n'], { input: text }).status).toBe(0);
  });

  it('writes deploy-time values between the literal parts, quoted', () => {
    const parts = userDataParts(sqlNode(), CTX, { assets: { Ref: 'Assets' }, region: 'us-east-1' });
    const i = parts.findIndex((p) => typeof p !== 'string');
    expect(parts[i - 1]).toMatch(/CHAOS_ASSETS='$/);
    expect(parts[i]).toEqual({ Ref: 'Assets' });
    expect(parts[i + 1]).toBe(`'\n`);
  });

  it('is the same for the same plan', () => {
    expect(renderUserData(sqlNode(), CTX, SETTINGS)).toBe(script);
  });

  it("gives every container that reaches the registry the stack's zone as REGISTRY_URL (route53://), the plan's address off AWS", () => {
    const agentEnv = { CHAOS_ENTRY: 'sql-agent', NODE_NAME: 'sql-a', REGISTRY_URL: 'http://registry:8053' };
    const node = sqlNode();
    node.sidecars[0] = { ...node.sidecars[0]!, env: agentEnv };
    const text = renderUserData(node, CTX, SETTINGS);
    const url = 'route53://Z0123/chaos-sql-kill-run1.chaos.internal?region=us-east-1';
    expect(text).toContain(`CHAOS_REGISTRY_URL='${url}'\n`);
    expect(parseRoute53Url(url)).toEqual({
      zoneId: 'Z0123',
      domain: 'chaos-sql-kill-run1.chaos.internal',
      region: 'us-east-1',
    });
    // What Docker is given, with node.env as the boot script sources it, and without it.
    const envFile = text.slice(
      text.indexOf("<<'CHAOS_ENV'\n") + "<<'CHAOS_ENV'\n".length,
      text.indexOf('\nCHAOS_ENV\n'),
    );
    const settings = Object.fromEntries(
      envFile.split('\n').map((l) => [l.slice(0, l.indexOf('=')), bashWord(l.slice(l.indexOf('=') + 1))]),
    );
    const boot = bootScript(node, CTX);
    const onAws = upCalls(boot, settings)[1]!;
    expect(onAws[onAws.indexOf(`REGISTRY_URL=${url}`) - 1]).toBe('-e');
    expect(onAws.filter((a) => a.startsWith('REGISTRY_URL='))).toEqual([`REGISTRY_URL=${url}`]);
    expect(onAws).toContain('NODE_NAME=sql-a');
    const local = upCalls(boot)[1]!;
    expect(local.filter((a) => a.startsWith('REGISTRY_URL='))).toEqual(['REGISTRY_URL=http://registry:8053']);
    // A container that does not reach the registry is not given one.
    expect(upCalls(boot, settings)[0]!.some((a) => a.startsWith('REGISTRY_URL='))).toBe(false);
  });

  it("writes the registry's URL with the zone as a deploy-time value (the stack's Ref)", () => {
    const parts = userDataParts(sqlNode(), CTX, {
      assets: 's3://b/run1',
      region: 'eu-west-1',
      zoneId: { Ref: 'HostedZone' },
      zoneName: 'z.chaos.internal',
    });
    const i = parts.findIndex((p, j) => typeof p === 'string' && p.endsWith('route53://') && j > 0);
    expect(parts[i]).toMatch(/CHAOS_REGISTRY_URL='route53:\/\/$/);
    expect(parts[i + 1]).toEqual({ Ref: 'HostedZone' });
    expect(parts[i + 2]).toBe("/z.chaos.internal?region=eu-west-1'\n");
  });
});
