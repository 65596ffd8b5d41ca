import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { ScenarioError } from '../../core/errors.ts';
import type { ContainerPlan, NodePlan, StackPlan } from '../../core/provider.ts';
import {
  LABEL_AZ,
  LABEL_HARNESS,
  LABEL_NODE,
  LABEL_ROLE,
  LABEL_RUN,
  LABEL_SCENARIO,
} from '../local/docker.ts';

/**
 * The user data that boots one node of a stack on an EC2 instance: a bash script that cloud-init
 * runs once, as root, at the instance's first boot. It writes the node's settings
 * (/etc/chaos/node.env), its boot script (/opt/chaos/boot.sh) and a systemd unit that runs the
 * boot script at every later boot, then runs the boot script. The boot script is idempotent and
 * carries the node's plan out as the local provider does (infra/local/provider.ts):
 *
 * - Docker: installed when missing (`dnf install -y docker` on Amazon Linux 2023, `apt-get
 *   install -y docker.io` on Debian; whichever package manager is there), started and enabled.
 * - Data disks (a volume with `disk: true`): the launch template's second block device (and third
 *   ...), formatted ext4 once (only when blank, so a stop and start keeps the data), mounted at
 *   `<root>/disks/<volume>` (in /etc/fstab with `nofail`), the folder `data` in it bind-mounted
 *   into the container (ext4's lost+found stays out, as with the local loop volumes). How the
 *   device is found: see `disk()` in the script. Its EBS volume is tagged `chaos:volume=<name>`
 *   by the node itself (a launch template tags every volume of an instance alike, the root too,
 *   and FIS's pause-volume-io must never pick the root).
 * - Shared volumes (a WAL archive every node mounts): a folder of the stack's EFS file system,
 *   mounted at `<root>/shared`; other per-node volumes are folders under `<root>/volumes`.
 * - Files (the agents' bundle, scripts) and generated contents: assets fetched from
 *   `$CHAOS_ASSETS/<key>` (`aws s3 cp` for s3://, `curl` for http(s)://), never inlined: user
 *   data is limited to 16 KB. `stackAssets()` lists them for whoever uploads them.
 * - Containers: the main container first, then each sidecar in its network namespace
 *   (`--network container:<main>`), named and labelled as the local provider names and labels
 *   them; the files copied in before the first start (as testcontainers does); `--restart
 *   on-failure:10` for `restartOnFailure`. The main container runs on the host's network: the
 *   instance is the node, its address the node's address, its security group the node's
 *   firewall, so ports are reached on the instance's IP and no port is published.
 * - The registry: no registry container runs on AWS, the stack's private zone is the registry.
 *   node.env holds `CHAOS_REGISTRY_URL=route53://<zone id>/<zone>?region=<region>` (the zone id
 *   from the stack, a Ref in the template), and every container whose plan sets REGISTRY_URL is
 *   given that instead of the local registry's address; the agents' registry factory
 *   (agents/registry/from-url.ts) reads it as the zone, through the instance role. Without a zone
 *   (off AWS) the plan's own address stands.
 * - Ready: each container's readyLog line, in its output since it last started, then
 *   /var/run/chaos-node-ready and a line `chaos-node-ready <node>` on the console; on AWS also
 *   `cfn-signal` to the node's Auto Scaling group (its creation policy), so that a node that
 *   comes `after` another starts only once that one is ready, as locally.
 *
 * Names: on AWS the stack's names resolve through the VPC's resolver and the stack's private
 * Route 53 zone (the VPC's DHCP options make the zone the search domain, so `pg-a` is
 * `pg-a.<zone>`). No /etc/hosts entry names another node: an address written at boot would go
 * stale when that node is replaced. The node's own name is the one it can know at launch: it
 * goes into /etc/hosts (its containers on the host's network resolve it without DNS) and into
 * the zone as an A record (TTL 1 s) that the node upserts at every boot.
 *
 * Every value from the plan is shell-quoted (`shellQuote`); names and paths that become file
 * names or Docker arguments are checked first, and a plan that cannot be written safely is
 * refused with what is wrong.
 */

/** Where the node's settings come from: literal values, or (in a template) deploy-time values. */
export interface UserDataSettings<T = string> {
  /** `s3://bucket/prefix` or `http(s)://host:port/prefix`: the assets, each under its key. */
  assets: string | T;
  /** The region (for the AWS CLI and cfn-signal); absent off AWS. */
  region?: string | T | undefined;
  /** The private hosted zone the node puts its own A record in (id and name); absent off AWS. */
  zoneId?: string | T | undefined;
  zoneName?: string | T | undefined;
  /** The EFS file system's DNS name, when the node mounts a shared volume on AWS. */
  efs?: string | T | undefined;
  /** The CloudFormation stack and the logical id of the node's Auto Scaling group, for cfn-signal. */
  stack?: string | T | undefined;
  signalResource?: string | T | undefined;
}

export interface UserDataContext {
  runId: string;
  /** The scenario's name (the chaos:stack tag; a label on every container). */
  scenario: string;
  /** Logical image name -> image reference (`redis` -> `redis:7`). */
  images: Readonly<Record<string, string>>;
  /** `ebs`: data disks are block devices of the launch template (`diskDevices`); `directory`: folders (a test off AWS). */
  disks: 'ebs' | 'directory';
  /** Volumes every node shares (StackPlan.sharedVolumes). */
  sharedVolumes?: readonly string[];
  /** Where volumes, assets and staged files live on the host (default /var/lib/chaos). */
  dataRoot?: string;
  /**
   * `host` (on AWS): the main container on the instance's network. `{bridge}`: on a Docker
   * network of that name, reached by its node's name, ports published (a test on a shared engine).
   */
  network?: 'host' | { bridge: string };
  /** The instance is an EC2 instance: it asks IMDS for its address (and, in a pool, its name). */
  ec2?: boolean;
  /**
   * A pool of identical nodes in one Auto Scaling group (web heads): the node's name is made at
   * boot, `<prefix>-<zone letter>-<instance id>`, and replaces the plan's own name everywhere.
   */
  pool?: { prefix: string };
  /** Each data disk's device name in the launch template and its size (how it is found). */
  diskDevices?: Readonly<Record<string, { device: string; sizeGiB: number }>>;
  /** Extra labels on every container (the local provider's owner pid and host, in a test). */
  labels?: Readonly<Record<string, string>>;
  /** How long each container may take to print its ready line (default 600 s: images are pulled). */
  readyTimeoutSec?: number;
}

/** The size limit of EC2 user data, in bytes, before base64 encoding. */
export const USER_DATA_LIMIT = 16 * 1024;

export const DEFAULT_DATA_ROOT = '/var/lib/chaos';

/** One file a node needs that user data cannot carry: uploaded under `key`, fetched at boot. */
export interface Asset {
  /** Its key under the assets prefix (`files/3f2a.../agents.cjs`). */
  key: string;
  /** The file on the harness's machine to upload, or... */
  source?: string;
  /** ...the text to upload. */
  content?: string;
}

/**
 * A string as one shell word, in single quotes (a single quote as `'\''`). Safe for any value
 * bash can hold: `$`, backquotes, `"`, `\`, newlines and globs stay literal. A NUL byte cannot
 * be in a shell word at all, so it is refused.
 */
export function shellQuote(value: string): string {
  if (value.includes('\0')) throw new Error('a NUL byte cannot be passed to a shell command');
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const hash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);

/** Where a plan's file goes under the assets prefix: by its path's hash, so two files never meet. */
export function fileAssetKey(source: string): string {
  return `files/${hash(source)}/${safeBase(basename(source))}`;
}

/** Where generated contents go under the assets prefix: by their hash. */
export function contentAssetKey(content: string, target: string): string {
  return `contents/${hash(content)}/${safeBase(basename(target))}`;
}

function safeBase(name: string): string {
  const s = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return s === '' || s === '.' || s === '..' ? 'file' : s;
}

/** Every asset the given nodes need, once each, in key order. */
export function assetsOf(nodes: readonly NodePlan[]): Asset[] {
  const byKey = new Map<string, Asset>();
  for (const n of nodes)
    for (const c of [n.main, ...n.sidecars]) {
      for (const f of c.files ?? [])
        byKey.set(fileAssetKey(f.source), { key: fileAssetKey(f.source), source: f.source });
      for (const f of c.contents ?? [])
        byKey.set(contentAssetKey(f.content, f.target), {
          key: contentAssetKey(f.content, f.target),
          content: f.content,
        });
    }
  return [...byKey.values()].sort((a, b) => a.key.localeCompare(b.key));
}

/**
 * The assets a stack plan's nodes need (the registry's container is not started on AWS: the
 * registry is the private hosted zone). `skip` names nodes that run as no instance (the load
 * balancer an ALB stands for).
 */
export function stackAssets(plan: StackPlan, skip: readonly string[] = []): Asset[] {
  return assetsOf(plan.nodes.filter((n) => !skip.includes(n.name)));
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const PART = /^[a-z0-9][a-z0-9-]{0,30}$/;
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const VOLUME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A path inside a container: absolute, no `..`, none of `:` `,` (Docker's -v syntax) or spaces. */
const CONTAINER_PATH = /^\/(?!.*(?:^|\/)\.\.(?:\/|$))[A-Za-z0-9._@+/-]*$/;
const HOST_PATH = /^\/[A-Za-z0-9._/-]+$/;

function refuse(code: string, message: string, hint: string): never {
  throw new ScenarioError(code, message, { hint });
}

/**
 * A readyLog as a POSIX extended regular expression for `grep -E`: the plans' patterns are
 * plain words and alternatives; `\d`, `\s` and `\w` are translated; anything grep -E reads
 * otherwise than JavaScript (lookarounds, lazy quantifiers, back references) is refused.
 */
export function toEre(re: RegExp, where: string): { ere: string; ignoreCase: boolean } {
  const bad = (what: string): never =>
    refuse(
      'AWS_READY_LOG',
      `${where}'s readyLog /${re.source}/${re.flags} has ${what}, which grep -E cannot match as JavaScript does`,
      'write it with words, `|`, groups, classes, `.`, `*`, `+`, `?`, `{n,m}`, `\\d`, `\\s`, `\\w` only',
    );
  if (/[^i]/.test(re.flags)) bad(`the flags '${re.flags}'`);
  const src = re.source;
  let out = '';
  for (let i = 0; i < src.length; i++) {
    const ch = src[i]!;
    if (ch === '\\') {
      const next = src[++i];
      if (next === undefined) bad('a trailing backslash');
      else if (next === 'd') out += '[0-9]';
      else if (next === 's') out += '[[:space:]]';
      else if (next === 'w') out += '[[:alnum:]_]';
      else if ('.^$*+?()[]{}|\\'.includes(next)) out += `\\${next}`;
      else if (next === '/' || next === '-' || next === '"' || next === "'" || next === ':') out += next;
      else bad(`the escape \\${next}`);
    } else if (ch === '(' && src[i + 1] === '?') bad('a (?...) group');
    else if (ch === '?' && '*+?}'.includes(src[i - 1] ?? '') && src[i - 2] !== '\\') bad('a lazy quantifier');
    else if (ch === '[') {
      const end = src.indexOf(']', i + 2);
      const cls = end < 0 ? '' : src.slice(i, end + 1);
      if (!cls || cls.includes('\\')) bad('a character class with an escape in it');
      out += cls;
      i = end;
    } else out += ch;
  }
  return { ere: out, ignoreCase: re.flags.includes('i') };
}

/** The settings file's variables, in order. */
const SETTINGS: [keyof UserDataSettings, string][] = [
  ['assets', 'CHAOS_ASSETS'],
  ['region', 'CHAOS_REGION'],
  ['zoneId', 'CHAOS_ZONE_ID'],
  ['zoneName', 'CHAOS_ZONE_NAME'],
  ['efs', 'CHAOS_EFS'],
  ['stack', 'CHAOS_STACK'],
  ['signalResource', 'CHAOS_SIGNAL'],
];

/** The node.env variable with the agents' registry URL (route53://...), when the node is on AWS. */
export const REGISTRY_SETTING = 'CHAOS_REGISTRY_URL';

/** A literal inside a single-quoted shell word (what `shellQuote` wraps in quotes). */
function quotedInside(value: string): string {
  return shellQuote(value).slice(1, -1);
}

/** A heredoc delimiter that no line of `text` is. */
function delimiter(base: string, text: string): string {
  const lines = new Set(text.split('\n'));
  let d = base;
  while (lines.has(d)) d += '_';
  return d;
}

/**
 * The node's user data, in parts: strings, and the deploy-time values in between (each written
 * inside single quotes: they must hold no quote, as ids and DNS names do not). A template joins
 * them (Fn::Join); `renderUserData` does with literal values.
 */
export function userDataParts<T>(
  node: NodePlan,
  ctx: UserDataContext,
  settings: UserDataSettings<T>,
): (string | T)[] {
  const boot = bootScript(node, ctx);
  const parts: (string | T)[] = [];
  const envLines: (string | T)[] = [];
  for (const [key, name] of SETTINGS) {
    const v = settings[key];
    if (v === undefined) continue;
    if (typeof v === 'string') envLines.push(`${name}=${shellQuote(v)}\n`);
    else envLines.push(`${name}='`, v, `'\n`);
  }
  // The agents' registry on AWS: the stack's zone, as agents/registry/from-url.ts reads it. The
  // boot script gives it to every container whose plan sets REGISTRY_URL, in place of the local
  // registry's address (no registry container runs on AWS: the zone is the registry).
  if (settings.zoneId !== undefined && settings.zoneName !== undefined) {
    const url: (string | T)[] = [
      'route53://',
      settings.zoneId,
      '/',
      settings.zoneName,
      '?region=',
      settings.region ?? 'us-east-1',
    ];
    const line: (string | T)[] = [`${REGISTRY_SETTING}='`];
    for (const p of [...url, `'\n`]) {
      const last = line[line.length - 1];
      if (typeof p !== 'string') line.push(p);
      else if (typeof last === 'string') line[line.length - 1] = last + (p === `'\n` ? p : quotedInside(p));
      else line.push(p === `'\n` ? p : quotedInside(p));
    }
    envLines.push(...line);
  }
  const envText = envLines.filter((p): p is string => typeof p === 'string').join('');
  const envEnd = delimiter('CHAOS_ENV', envText);
  const bootEnd = delimiter('CHAOS_BOOT', boot);
  const name = ctx.pool ? `${ctx.pool.prefix} (a pool)` : node.name;
  parts.push(
    [
      '#!/bin/bash',
      `# chaos harness: node ${oneLine(name)} of run ${ctx.runId} (${oneLine(ctx.scenario)}), by infra/aws/user-data.ts.`,
      '# cloud-init runs this once; chaos-node.service runs /opt/chaos/boot.sh at every boot after.',
      'set -euo pipefail',
      'umask 022',
      'mkdir -p /etc/chaos /opt/chaos',
      `cat >/etc/chaos/node.env <<'${envEnd}'`,
      '',
    ].join('\n'),
    ...envLines,
    [
      envEnd,
      `cat >/opt/chaos/boot.sh <<'${bootEnd}'`,
      boot,
      bootEnd,
      'chmod 0755 /opt/chaos/boot.sh',
      'if [ -d /run/systemd/system ]; then',
      "  cat >/etc/systemd/system/chaos-node.service <<'CHAOS_UNIT'",
      '[Unit]',
      'Description=chaos harness node: its containers, again after a stop and start',
      'Wants=network-online.target docker.service',
      'After=network-online.target docker.service local-fs.target remote-fs.target',
      '[Service]',
      'Type=oneshot',
      'RemainAfterExit=yes',
      'ExecStart=/opt/chaos/boot.sh',
      'TimeoutStartSec=1800',
      'StandardOutput=journal+console',
      'StandardError=journal+console',
      '[Install]',
      'WantedBy=multi-user.target',
      'CHAOS_UNIT',
      '  systemctl daemon-reload',
      '  systemctl enable chaos-node.service',
      'else',
      "  echo 'chaos-node: no systemd here: nothing brings the containers back after a reboot but their restart policies'",
      'fi',
      'exec /opt/chaos/boot.sh',
      '',
    ].join('\n'),
  );
  return parts;
}

/** The node's user data with literal settings: a bash script. */
export function renderUserData(node: NodePlan, ctx: UserDataContext, settings: UserDataSettings): string {
  const text = userDataParts<string>(node, ctx, settings).join('');
  assertUserDataSize(text, node.name);
  return text;
}

/** Refuses user data EC2 would refuse: more than 16 KB before base64. */
export function assertUserDataSize(text: string, node: string): void {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > USER_DATA_LIMIT)
    refuse(
      'AWS_USER_DATA_TOO_LARGE',
      `${node}'s user data is ${bytes} bytes; EC2 takes ${USER_DATA_LIMIT} at most (before base64)`,
      'move what makes it large (long environment values, many containers) into files: files and generated contents are assets, fetched at boot',
    );
}

const oneLine = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');

/** The boot script: idempotent, run at the first boot and at every boot after. */
export function bootScript(node: NodePlan, ctx: UserDataContext): string {
  const root = ctx.dataRoot ?? DEFAULT_DATA_ROOT;
  if (!HOST_PATH.test(root))
    refuse(
      'AWS_DATA_ROOT',
      `data root '${root}' is not a plain absolute path`,
      'use letters, digits, . _ - /',
    );
  if (!RUN_ID.test(ctx.runId))
    refuse('AWS_RUN_ID', `run id '${ctx.runId}' is not usable in container names`, 'letters, digits, . _ -');
  if (!NAME.test(node.name))
    refuse(
      'AWS_NODE_NAME',
      `node name '${node.name}' is not a DNS label`,
      'lower-case letters, digits and -, 63 at most',
    );
  if (ctx.pool && !ctx.ec2)
    refuse(
      'AWS_POOL',
      `${node.name}: a pool's node names come from EC2's metadata`,
      'a pool runs on EC2 only (ec2: true)',
    );
  if (ctx.pool && !NAME.test(ctx.pool.prefix))
    refuse(
      'AWS_NODE_NAME',
      `pool prefix '${ctx.pool.prefix}' is not a DNS label`,
      'lower-case letters, digits and -',
    );
  const shared = new Set(ctx.sharedVolumes ?? []);
  const timeout = ctx.readyTimeoutSec ?? 600;
  const pool = ctx.pool;
  /** A plan's value as one shell word; in a pool, the plan's node name becomes the boot-time one. */
  const word = (value: string): string => {
    if (!pool || !value.includes(node.name)) return shellQuote(value);
    return value
      .split(node.name)
      .map((piece) => (piece === '' ? '' : shellQuote(piece)))
      .join('"$NODE"');
  };
  const containers = [node.main, ...node.sidecars];
  const mainName = `chaos-${ctx.runId}-${pool ? '$NODE' : node.name}`;
  const nameWord = (c: ContainerPlan, isMain: boolean) => {
    if (!PART.test(c.part))
      refuse(
        'AWS_PART',
        `${node.name}'s container part '${c.part}' is not a plain name`,
        'lower-case letters, digits and -',
      );
    const n = isMain ? mainName : `${mainName}-${c.part}`;
    return pool ? `"${n}"` : shellQuote(n);
  };

  // Volumes: the host folder each one is.
  const disks = new Map<string, string>();
  const folders = new Set<string>();
  let usesShared = false;
  const mountOf = (c: ContainerPlan, v: { name: string; path: string; disk?: boolean }): string => {
    const where = `${node.name}'s ${c.part} volume '${v.name}'`;
    if (!VOLUME.test(v.name))
      refuse('AWS_VOLUME', `${where}: the name is not plain`, 'letters, digits, . _ -');
    if (!CONTAINER_PATH.test(v.path))
      refuse('AWS_VOLUME', `${where}: path '${v.path}' is not a plain absolute path`, 'no : , .. or spaces');
    if (shared.has(v.name)) {
      if (v.disk)
        refuse(
          'AWS_VOLUME',
          `${where} is shared and a disk`,
          "a disk is one node's own (an EBS volume); a shared volume is EFS",
        );
      usesShared = true;
      return `${root}/shared/${v.name}`;
    }
    if (v.disk) {
      const dev = ctx.diskDevices?.[v.name];
      if (ctx.disks === 'ebs' && !dev)
        refuse(
          'AWS_DISK',
          `${where} is a disk with no block device in the launch template`,
          'give it one in diskDevices',
        );
      disks.set(v.name, `${root}/disks/${v.name}`);
      return `${root}/disks/${v.name}/data`;
    }
    folders.add(`${root}/volumes/${v.name}`);
    return `${root}/volumes/${v.name}`;
  };

  const staging: string[] = [];
  const runs: string[] = [];
  containers.forEach((c, i) => {
    const isMain = i === 0;
    const where = `${node.name}'s ${c.part} container`;
    const image = ctx.images[c.image];
    if (!image)
      refuse(
        'AWS_IMAGE',
        `${where} runs image '${c.image}', and no image reference was given for it`,
        `pass images.${c.image}`,
      );
    const ready = toEre(c.readyLog, where);
    const args: string[] = [];
    const labels: Record<string, string> = {
      [LABEL_HARNESS]: 'true',
      [LABEL_RUN]: ctx.runId,
      [LABEL_SCENARIO]: ctx.scenario,
      [LABEL_NODE]: node.name,
      [LABEL_ROLE]: isMain ? node.system : c.part,
      [LABEL_AZ]: node.az,
      ...ctx.labels,
    };
    for (const [k, v] of Object.entries(labels).sort(([a], [b]) => a.localeCompare(b))) {
      if (pool && k === LABEL_NODE) args.push(`--label "${k}=$NODE"`);
      else if (pool && k === LABEL_AZ) args.push(`--label "${k}=$AZ"`);
      else args.push(`--label ${shellQuote(`${k}=${v}`)}`);
    }
    if (isMain) {
      const net = ctx.network ?? 'host';
      if (net === 'host') args.push('--network host');
      else {
        args.push(
          `--network ${shellQuote(net.bridge)} --network-alias ${pool ? '"$NODE"' : shellQuote(node.name)}`,
        );
        for (const p of c.ports ?? []) args.push(`-p ${Number(p)}`);
      }
    } else args.push(`--network "container:${mainName}"`);
    if (c.restartOnFailure) args.push('--restart on-failure:10');
    if (c.user) args.push(`--user ${shellQuote(c.user)}`);
    for (const [k, v] of Object.entries(c.env ?? {})) {
      if (!ENV_NAME.test(k))
        refuse('AWS_ENV', `${where}: '${k}' is not an environment variable name`, 'letters, digits, _');
      // The registry's address: the stack's zone where node.env names it (on AWS), else the plan's.
      if (k === 'REGISTRY_URL') args.push(`-e "REGISTRY_URL=$(registry_url ${word(v)})"`);
      else args.push(`-e ${word(`${k}=${v}`)}`);
    }
    for (const v of c.volumes ?? []) args.push(`-v ${shellQuote(`${mountOf(c, v)}:${v.path}`)}`);
    const name = nameWord(c, isMain);
    // Files: staged under <root>/stage/<container>/<target> with their mode, copied in by `up`.
    const stage = `${root}/stage/${c.part}`;
    const tops = new Set<string>();
    const put = (key: string, target: string, mode: number | undefined) => {
      if (!CONTAINER_PATH.test(target) || target.endsWith('/'))
        refuse(
          'AWS_FILE',
          `${where}: file target '${target}' is not a plain absolute path`,
          'no : , .. or spaces',
        );
      tops.add(target.split('/')[1]!);
      staging.push(`put ${shellQuote(key)} ${shellQuote(stage + target)} ${(mode ?? 0o644).toString(8)}`);
    };
    for (const f of c.files ?? []) put(fileAssetKey(f.source), f.target, f.mode);
    for (const f of c.contents ?? []) put(contentAssetKey(f.content, f.target), f.target, f.mode);
    const command = c.command.map(word).join(' ');
    const copy = tops.size ? `${shellQuote(stage)} ${[...tops].sort().map(shellQuote).join(' ')}` : "''";
    runs.push(
      `up ${isMain ? 'main' : 'sidecar'} ${name} ${shellQuote(ready.ere)} ${ready.ignoreCase ? '-Eic' : '-Ec'} ${copy} -- \\\n  ${args.join(' \\\n  ')} \\\n  ${shellQuote(image)}${command ? ` ${command}` : ''}`,
    );
  });

  const diskLines = [...disks].map(([name, mnt]) =>
    ctx.disks === 'ebs'
      ? `disk ${shellQuote(name)} ${shellQuote(ctx.diskDevices![name]!.device)} ${ctx.diskDevices![name]!.sizeGiB} ${shellQuote(mnt)}`
      : `mkdir -p ${shellQuote(`${mnt}/data`)}`,
  );
  const nodeLine = pool
    ? [
        'AZ=$(imds placement/availability-zone); AZ=${AZ: -1}',
        `NODE=${shellQuote(`${pool.prefix}-`)}"$AZ-$(imds instance-id)"`,
      ]
    : [`NODE=${shellQuote(node.name)}`, `AZ=${shellQuote(node.az)}`];

  return [
    '#!/bin/bash',
    "# Brings this node's containers up, and up again after a stop and start (chaos-node.service).",
    'set -Eeuo pipefail',
    '. /etc/chaos/node.env',
    `ROOT=${shellQuote(root)} RUN_ID=${shellQuote(ctx.runId)} READY_TIMEOUT=${timeout} EC2=${ctx.ec2 ? 1 : 0} NODE='?' FRESH=0`,
    'log() { printf "chaos-node: %s\\n" "$*"; }',
    'console() { echo "$*"; if [ -w /dev/console ]; then echo "$*" >/dev/console 2>/dev/null || true; fi; }',
    "signal() { # signal CODE REASON: to the Auto Scaling group's creation policy, once",
    '  [ -n "${CHAOS_SIGNAL:-}" ] && [ ! -e "$ROOT/signalled" ] || return 0',
    '  mkdir -p "$ROOT" && touch "$ROOT/signalled"',
    '  /opt/aws/bin/cfn-signal -e "$1" --reason "$2" --stack "$CHAOS_STACK" --resource "$CHAOS_SIGNAL" --region "$CHAOS_REGION" || log "cfn-signal failed"',
    '}',
    'fail() { trap - ERR; console "chaos-node-failed $NODE: $*"; signal 1 "$*" || true; exit 1; }',
    'trap \'fail "line $LINENO: $BASH_COMMAND"\' ERR',
    'need() { # need COMMAND DNF-PACKAGE APT-PACKAGE: installs what is missing',
    '  command -v "$1" >/dev/null 2>&1 && return 0',
    '  if command -v dnf >/dev/null 2>&1; then dnf install -y -q "$2"',
    '  elif command -v apt-get >/dev/null 2>&1; then',
    '    export DEBIAN_FRONTEND=noninteractive',
    '    [ -n "${APT_UPDATED:-}" ] || { apt-get update -qq; APT_UPDATED=1; }',
    '    apt-get install -y -qq --no-install-recommends "$3" >/dev/null',
    '  else fail "$1 is missing and there is no dnf or apt-get to install it"; fi',
    '  command -v "$1" >/dev/null 2>&1 || fail "$1 is still missing after installing $2/$3"',
    '}',
    'imds() { # imds PATH: instance metadata (IMDSv2)',
    '  local t; t=$(curl -fsS -m 5 -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 60")',
    '  curl -fsS -m 5 -H "X-aws-ec2-metadata-token: $t" "http://169.254.169.254/latest/meta-data/$1"',
    '}',
    'retry() { local _; for _ in $(seq 60); do "$@" && return 0; sleep 2; done; "$@"; }',
    `registry_url() { printf %s "\${${REGISTRY_SETTING}:-$1}"; } # registry_url PLAN-URL: the stack's zone on AWS, else the plan's`,
    'case "$CHAOS_ASSETS" in http://*|https://*) need curl curl curl ;; s3://*) need aws awscli awscli ;; *) fail "CHAOS_ASSETS is neither s3:// nor http(s)://: $CHAOS_ASSETS" ;; esac',
    '[ "$EC2" = 0 ] || { need curl curl curl; need aws awscli awscli; }',
    '[ -z "${CHAOS_SIGNAL:-}" ] || [ -x /opt/aws/bin/cfn-signal ] || dnf install -y -q aws-cfn-bootstrap',
    ...nodeLine,
    'mkdir -p "$ROOT"',
    'log "node $NODE (zone $AZ) of run ${RUN_ID}"',
    '',
    '# Docker: Amazon Linux 2023 has it as `docker`, Debian as `docker.io`.',
    'need docker docker docker.io',
    '[ ! -d /run/systemd/system ] || systemctl enable --now docker >/dev/null 2>&1 || systemctl start docker',
    'for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done',
    'docker info >/dev/null 2>&1 || fail "the Docker engine does not answer"',
    '',
    "# Its own name: in /etc/hosts and, as an A record, in the stack's zone (other nodes resolve it there).",
    'if [ "$EC2" = 1 ]; then',
    '  IP=$(imds local-ipv4)',
    '  sed -i \'/ # chaos-node$/d\' /etc/hosts && echo "$IP $NODE # chaos-node" >>/etc/hosts',
    '  [ -z "${CHAOS_ZONE_ID:-}" ] || retry aws route53 change-resource-record-sets --region "$CHAOS_REGION" --hosted-zone-id "$CHAOS_ZONE_ID" \\',
    '    --change-batch "{\\"Changes\\":[{\\"Action\\":\\"UPSERT\\",\\"ResourceRecordSet\\":{\\"Name\\":\\"$NODE.$CHAOS_ZONE_NAME\\",\\"Type\\":\\"A\\",\\"TTL\\":1,\\"ResourceRecords\\":[{\\"Value\\":\\"$IP\\"}]}}]}" >/dev/null',
    ...(pool
      ? [
          "  # A pooled node's name is its own: on its instance as chaos:node, as a single node has it.",
          '  retry aws ec2 create-tags --region "$CHAOS_REGION" --resources "$(imds instance-id)" --tags "Key=chaos:node,Value=$NODE"',
        ]
      : []),
    'fi',
    '',
    ...(disks.size && ctx.disks === 'ebs'
      ? [
          'disk() { # disk NAME DEVICE SIZE-GIB MOUNT: the EBS data volume, formatted when blank, mounted',
          '  local name=$1 want=$2 size=$3 mnt=$4 dev="" c vol uuid',
          '  need mkfs.ext4 e2fsprogs e2fsprogs',
          '  for _ in $(seq 120); do',
          "    # 1. The launch template's device name: Amazon Linux's udev rules (amazon-ec2-utils) link it",
          '    #    to the NVMe device of a Nitro instance (/dev/sdf -> /dev/nvme1n1); Xen names it /dev/xvdf.',
          '    for c in "$want" "/dev/xvd${want#/dev/sd}"; do [ -b "$c" ] && dev=$(readlink -f "$c") && break; done',
          '    # 2. Elsewhere (no such rules): the disk of exactly SIZE GiB. Each data disk of a node has a size',
          '    #    of its own, and the root volume another, so the size names it.',
          '    [ -n "$dev" ] || dev=$(lsblk -dbnpo NAME,SIZE,TYPE | awk -v s=$((size * 1073741824)) \'$3 == "disk" && $2 == s { print $1; exit }\')',
          '    [ -n "$dev" ] && break; sleep 1',
          '  done',
          '  [ -n "$dev" ] || fail "no block device for disk $name ($want, $size GiB)"',
          '  blkid -p "$dev" >/dev/null 2>&1 || mkfs.ext4 -q -m 0 "$dev"',
          '  uuid=$(blkid -s UUID -o value "$dev"); mkdir -p "$mnt"',
          '  grep -q "^UUID=$uuid " /etc/fstab || echo "UUID=$uuid $mnt ext4 defaults,nofail,x-systemd.device-timeout=30s 0 2" >>/etc/fstab',
          '  mountpoint -q "$mnt" || mount "$mnt"',
          '  mkdir -p "$mnt/data"',
          "  # Its EBS volume id is the NVMe serial (vol0123... -> vol-0123...): tagged for FIS's pause-volume-io.",
          '  [ "$EC2" = 1 ] || return 0',
          '  vol=$(lsblk -dno SERIAL "$dev" | sed -n \'s/^vol-\\{0,1\\}\\(.*\\)$/vol-\\1/p\')',
          '  [ -n "$vol" ] || fail "disk $name ($dev) has no EBS volume id: a Nitro instance type is needed"',
          '  retry aws ec2 create-tags --region "$CHAOS_REGION" --resources "$vol" --tags "Key=chaos:volume,Value=$name"',
          '}',
        ]
      : []),
    ...(usesShared
      ? [
          "# Shared volumes: folders of the stack's EFS file system (on AWS), or of the host.",
          'if [ -n "${CHAOS_EFS:-}" ]; then',
          '  need mount.nfs4 nfs-utils nfs-common',
          '  mkdir -p "$ROOT/shared"',
          '  grep -q " $ROOT/shared nfs4 " /etc/fstab || echo "$CHAOS_EFS:/ $ROOT/shared nfs4 nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport,_netdev,nofail 0 0" >>/etc/fstab',
          '  mountpoint -q "$ROOT/shared" || retry mount "$ROOT/shared"',
          'fi',
        ]
      : []),
    ...diskLines,
    ...[...folders, ...(usesShared ? [...shared].map((s) => `${root}/shared/${s}`) : [])]
      .sort()
      .map((f) => `mkdir -p ${shellQuote(f)}`),
    '',
    'fetch() { # fetch KEY: the asset into $ROOT/assets/KEY, once (a key names its content)',
    '  local dst="$ROOT/assets/$1"',
    '  [ -e "$dst" ] && return 0',
    '  mkdir -p "$(dirname "$dst")"',
    '  case "$CHAOS_ASSETS" in',
    '    s3://*) retry aws s3 cp --only-show-errors ${CHAOS_REGION:+--region "$CHAOS_REGION"} "$CHAOS_ASSETS/$1" "$dst.part" ;;',
    '    *) curl -fsS --retry 10 --retry-connrefused -o "$dst.part" "$CHAOS_ASSETS/$1" ;;',
    '  esac',
    '  mv "$dst.part" "$dst"',
    '}',
    'put() { fetch "$1"; mkdir -p "$(dirname "$2")"; cp "$ROOT/assets/$1" "$2"; chmod "$3" "$2"; } # put KEY STAGED-PATH MODE',
    '',
    "# ready NAME READY-ERE GREP-FLAGS: until the container's output since it last started has the line.",
    '# Polled, not `docker logs -f | grep -m1`: that pipe ends only at the line after the match.',
    'ready() {',
    '  local name=$1 ready=$2 flags=$3 since n state policy deadline=$((SECONDS + READY_TIMEOUT))',
    '  while :; do',
    '    since=$(docker inspect -f "{{.State.StartedAt}}" "$name")',
    '    n=$(docker logs --since "$since" "$name" 2>&1 | grep "$flags" -- "$ready" || true)',
    '    [ "${n:-0}" -gt 0 ] && break',
    '    state=$(docker inspect -f "{{.State.Status}}" "$name"); policy=$(docker inspect -f "{{.HostConfig.RestartPolicy.Name}}" "$name")',
    '    if [ "$state" = exited ] && [ "$policy" != on-failure ] || [ "$state" = dead ]; then',
    '      docker logs --tail 20 "$name" 2>&1 || true; fail "$name exited before it was ready"',
    '    fi',
    '    [ "$SECONDS" -lt "$deadline" ] || { docker logs --tail 20 "$name" 2>&1 || true; fail "$name was not ready in ${READY_TIMEOUT}s"; }',
    '    sleep 0.5',
    '  done',
    '  log "$name is ready"',
    '}',
    '# up main|sidecar NAME READY-ERE GREP-FLAGS STAGE TOP... -- CREATE-ARGS...: the container. Created',
    '# (its staged files copied in before its first start), it is ready before the next one starts, as',
    '# the local provider starts a node. Started again (after a stop), every container of the node',
    '# starts first and then all are awaited, as at a power-on: a server may wait for its agent.',
    'LATER=()',
    'up() {',
    '  local kind=$1 name=$2 ready=$3 flags=$4 stage=$5 tops=()',
    '  shift 5; while [ "$1" != -- ]; do tops+=("$1"); shift; done; shift',
    '  if docker container inspect "$name" >/dev/null 2>&1; then',
    '    if [ "$(docker inspect -f "{{.State.Running}}" "$name")" = true ] && { [ "$kind" = main ] || [ "$FRESH" = 0 ]; }; then :',
    '    # A sidecar whose main container started again must join its new network namespace.',
    '    elif [ "$kind" = sidecar ]; then docker restart -t 5 "$name" >/dev/null',
    '    else docker start "$name" >/dev/null; FRESH=1; fi',
    '    LATER+=("$name" "$ready" "$flags")',
    '  else',
    '    docker rm -f "$name.new" >/dev/null 2>&1 || true',
    '    docker create --name "$name.new" "$@" >/dev/null',
    '    [ -z "$stage" ] || tar -C "$stage" -cf - "${tops[@]}" | docker cp - "$name.new:/"',
    '    docker rename "$name.new" "$name"',
    '    docker start "$name" >/dev/null',
    '    [ "$kind" = sidecar ] || FRESH=1',
    '    ready "$name" "$ready" "$flags"',
    '  fi',
    '}',
    ...staging,
    ...runs,
    'set -- "${LATER[@]}"',
    'while [ $# -gt 0 ]; do ready "$1" "$2" "$3"; shift 3; done',
    '',
    'touch /var/run/chaos-node-ready',
    'console "chaos-node-ready $NODE"',
    'signal 0 ready',
    '',
  ].join('\n');
}
