import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { UsageError } from '../../core/errors.ts';

/**
 * Where the harness may work on AWS. Nothing is allowed by default: an account and a region must
 * be named, in a config file or by flags, before the AWS provider creates anything.
 *
 * The file is `chaos.aws.yaml` in the working directory, or the one `--aws-config FILE` names:
 *
 *   # chaos.aws.yaml: the accounts and regions chaos runs may create stacks and inject faults in
 *   accounts: ['123456789012']      # 12-digit account ids, quoted (YAML reads 0-led numbers oddly)
 *   regions: [eu-west-1, us-east-1]
 *   blastRadius:                    # optional: what one fault may touch unless a scenario says more
 *     maxAzs: 1                     # zones (default 1)
 *     maxNodeFraction: 0.5          # of a system's nodes (default 0.5: at most half)
 *
 * `--allow-account ID` and `--allow-region NAME` (each may repeat) add to what the file allows.
 */
export const AWS_CONFIG_FILE = 'chaos.aws.yaml';

export interface BlastRadius {
  /** The zones one fault may touch. */
  maxAzs: number;
  /** The share of a system's nodes one fault may touch (0.5: at most half). */
  maxNodeFraction: number;
}

export const DEFAULT_BLAST_RADIUS: BlastRadius = { maxAzs: 1, maxNodeFraction: 0.5 };

export interface AwsConfig {
  accounts: string[];
  regions: string[];
  blastRadius: BlastRadius;
  /** The file read (absolute), if one was. */
  file?: string | undefined;
  /** The file the harness looked for, whether it was there or not: what a message tells the user to edit. */
  expectedFile: string;
  /** The flags that added to it (`--allow-account 111111111111`). */
  flags: string[];
}

const ACCOUNT = /^\d{12}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

const schema = z
  .object({
    accounts: z
      .array(
        z.union([z.string(), z.number()]).transform((v, ctx) => {
          const s = String(v);
          if (!ACCOUNT.test(s)) {
            ctx.addIssue({
              code: 'custom',
              message: `'${s}' is not a 12-digit AWS account id (quote it: '012345678901')`,
            });
            return z.NEVER;
          }
          return s;
        }),
      )
      .default([]),
    regions: z
      .array(z.string().regex(REGION, { message: 'is not an AWS region name (such as eu-west-1)' }))
      .default([]),
    blastRadius: z
      .object({
        maxAzs: z.number().int().min(1).default(DEFAULT_BLAST_RADIUS.maxAzs),
        maxNodeFraction: z.number().gt(0).max(1).default(DEFAULT_BLAST_RADIUS.maxNodeFraction),
      })
      .strict()
      .default({}),
  })
  .strict();

/** The config in `text`, read from `file`; a UsageError that names the field and the file. */
export function parseAwsConfig(text: string, file: string): AwsConfig {
  let raw: unknown;
  try {
    raw = parse(text) ?? {};
  } catch (err) {
    throw new UsageError(
      'AWS_CONFIG_INVALID',
      `${file}: not YAML: ${(err as Error).message.split('\n')[0]}`,
      {
        hint: `see ${AWS_CONFIG_FILE} in the README: accounts: ['123456789012'], regions: [eu-west-1]`,
      },
    );
  }
  const got = schema.safeParse(raw);
  if (!got.success) {
    const issue = got.error.issues[0]!;
    const where = issue.path.length ? issue.path.join('.') : '(top)';
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown field ${issue.keys.map((k) => `'${k}'`).join(', ')}`
        : issue.message;
    throw new UsageError('AWS_CONFIG_INVALID', `${file}: ${where}: ${message}`, {
      hint: 'the fields are accounts, regions and blastRadius {maxAzs, maxNodeFraction}',
    });
  }
  return { ...got.data, file, expectedFile: file, flags: [] };
}

/**
 * The config file: `file` if given (it must exist), else `chaos.aws.yaml` in `cwd` if it is there,
 * else nothing allowed.
 */
export function loadAwsConfig(opts: { file?: string | undefined; cwd?: string } = {}): AwsConfig {
  const cwd = opts.cwd ?? process.cwd();
  if (opts.file !== undefined) {
    const path = resolve(cwd, opts.file);
    if (!existsSync(path))
      throw new UsageError('AWS_CONFIG_NOT_FOUND', `--aws-config ${opts.file}: no such file (${path})`, {
        hint: `create it with accounts: ['123456789012'] and regions: [eu-west-1]`,
      });
    return parseAwsConfig(readFileSync(path, 'utf8'), path);
  }
  const path = resolve(cwd, AWS_CONFIG_FILE);
  if (existsSync(path)) return parseAwsConfig(readFileSync(path, 'utf8'), path);
  return {
    accounts: [],
    regions: [],
    blastRadius: { ...DEFAULT_BLAST_RADIUS },
    expectedFile: path,
    flags: [],
  };
}

/** The config with what `--allow-account` and `--allow-region` add (checked, deduplicated). */
export function withFlags(
  config: AwsConfig,
  flags: { allowAccount?: readonly string[] | undefined; allowRegion?: readonly string[] | undefined },
): AwsConfig {
  for (const a of flags.allowAccount ?? [])
    if (!ACCOUNT.test(a))
      throw new UsageError('BAD_ACCOUNT', `--allow-account '${a}' is not a 12-digit AWS account id`, {
        hint: 'aws sts get-caller-identity --query Account prints the one your credentials are for',
      });
  for (const r of flags.allowRegion ?? [])
    if (!REGION.test(r))
      throw new UsageError('BAD_REGION', `--allow-region '${r}' is not an AWS region name`, {
        hint: 'give one such as us-east-1 or eu-west-2',
      });
  const uniq = (xs: string[]) => [...new Set(xs)];
  return {
    ...config,
    accounts: uniq([...config.accounts, ...(flags.allowAccount ?? [])]),
    regions: uniq([...config.regions, ...(flags.allowRegion ?? [])]),
    flags: [
      ...config.flags,
      ...(flags.allowAccount ?? []).map((a) => `--allow-account ${a}`),
      ...(flags.allowRegion ?? []).map((r) => `--allow-region ${r}`),
    ],
  };
}

/** The file (or `chaos.aws.yaml` in `cwd`) and the flags, merged: what `--provider aws` runs under. */
export function resolveAwsConfig(opts: {
  file?: string | undefined;
  cwd?: string;
  allowAccount?: readonly string[] | undefined;
  allowRegion?: readonly string[] | undefined;
}): AwsConfig {
  return withFlags(loadAwsConfig(opts), opts);
}

/** Where the allow-lists came from, for a message: `/x/chaos.aws.yaml and --allow-account 1...`. */
export function describeSources(config: AwsConfig): string {
  const parts = [...(config.file ? [config.file] : []), ...config.flags];
  return parts.length ? parts.join(' and ') : `no config (no ${config.expectedFile}, no --allow-* flags)`;
}
