import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChaosError } from '../../core/errors.ts';
import {
  AWS_CONFIG_FILE,
  DEFAULT_BLAST_RADIUS,
  describeSources,
  loadAwsConfig,
  parseAwsConfig,
  resolveAwsConfig,
  withFlags,
} from './config.ts';

function dir(files: Record<string, string> = {}): string {
  const d = mkdtempSync(join(tmpdir(), 'chaos-aws-config-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  return d;
}

function caught(fn: () => unknown): ChaosError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ChaosError) return err;
    throw err;
  }
  throw new Error('it did not throw');
}

describe('the AWS config', () => {
  it('allows nothing when there is no file and no flag', () => {
    const cwd = dir();
    const c = loadAwsConfig({ cwd });
    expect(c).toEqual({
      accounts: [],
      regions: [],
      blastRadius: DEFAULT_BLAST_RADIUS,
      expectedFile: join(cwd, AWS_CONFIG_FILE),
      flags: [],
    });
    expect(describeSources(c)).toBe(`no config (no ${join(cwd, AWS_CONFIG_FILE)}, no --allow-* flags)`);
  });

  it('reads chaos.aws.yaml in the working directory: accounts, regions, blast radius with defaults', () => {
    const cwd = dir({
      [AWS_CONFIG_FILE]:
        "accounts: ['012345678901', 123456789012]\nregions: [eu-west-1]\nblastRadius: { maxAzs: 2 }\n",
    });
    expect(loadAwsConfig({ cwd })).toEqual({
      accounts: ['012345678901', '123456789012'],
      regions: ['eu-west-1'],
      blastRadius: { maxAzs: 2, maxNodeFraction: 0.5 },
      file: join(cwd, AWS_CONFIG_FILE),
      expectedFile: join(cwd, AWS_CONFIG_FILE),
      flags: [],
    });
  });

  it('reads the file --aws-config names, relative to the working directory; a missing one is an error', () => {
    const cwd = dir({ 'prod.yaml': 'accounts: ["111111111111"]\nregions: [us-east-1]\n' });
    expect(loadAwsConfig({ cwd, file: 'prod.yaml' })).toMatchObject({
      accounts: ['111111111111'],
      file: join(cwd, 'prod.yaml'),
    });
    const e = caught(() => loadAwsConfig({ cwd, file: 'nope.yaml' }));
    expect(e.oneLine()).toBe(
      `error[AWS_CONFIG_NOT_FOUND]: --aws-config nope.yaml: no such file (${join(cwd, 'nope.yaml')}) (create it with accounts: ['123456789012'] and regions: [eu-west-1])`,
    );
    expect(e.exitCode).toBe(2);
  });

  it('names the field and the file of a mistake', () => {
    expect(caught(() => parseAwsConfig('accounts: [12345]\n', 'c.yaml')).message).toBe(
      "c.yaml: accounts.0: '12345' is not a 12-digit AWS account id (quote it: '012345678901')",
    );
    // An unquoted id with a leading zero is read as a number and loses it.
    expect(caught(() => parseAwsConfig('accounts: [012345678901]\n', 'c.yaml')).message).toMatch(
      /accounts\.0: '12345678901' is not/,
    );
    expect(caught(() => parseAwsConfig('regions: [Ireland]\n', 'c.yaml')).message).toBe(
      'c.yaml: regions.0: is not an AWS region name (such as eu-west-1)',
    );
    expect(caught(() => parseAwsConfig('account: ["111111111111"]\n', 'c.yaml')).message).toBe(
      "c.yaml: (top): unknown field 'account'",
    );
    expect(caught(() => parseAwsConfig('blastRadius: { maxNodeFraction: 2 }\n', 'c.yaml')).message).toMatch(
      /^c\.yaml: blastRadius\.maxNodeFraction: /,
    );
    expect(caught(() => parseAwsConfig('accounts: [\n', 'c.yaml')).code).toBe('AWS_CONFIG_INVALID');
    expect(parseAwsConfig('', 'empty.yaml')).toMatchObject({ accounts: [], regions: [] });
  });

  it('--allow-account and --allow-region add to the file, checked and without duplicates', () => {
    const cwd = dir({ [AWS_CONFIG_FILE]: "accounts: ['111111111111']\nregions: [eu-west-1]\n" });
    const c = resolveAwsConfig({
      cwd,
      allowAccount: ['222222222222', '111111111111'],
      allowRegion: ['us-east-1'],
    });
    expect(c.accounts).toEqual(['111111111111', '222222222222']);
    expect(c.regions).toEqual(['eu-west-1', 'us-east-1']);
    expect(describeSources(c)).toBe(
      `${join(cwd, AWS_CONFIG_FILE)} and --allow-account 222222222222 and --allow-account 111111111111 and --allow-region us-east-1`,
    );
    expect(caught(() => withFlags(c, { allowAccount: ['12'] })).oneLine()).toBe(
      "error[BAD_ACCOUNT]: --allow-account '12' is not a 12-digit AWS account id (aws sts get-caller-identity --query Account prints the one your credentials are for)",
    );
    expect(caught(() => withFlags(c, { allowRegion: ['mars-1'] })).code).toBe('BAD_REGION');
  });
});
