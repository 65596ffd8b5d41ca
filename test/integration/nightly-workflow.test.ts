import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The nightly workflow under examples/ is checked by actionlint (.ci/run builds it with
 * `go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.7`); where shellcheck is
 * installed, actionlint checks the workflow's scripts with it too.
 */
const ROOT = resolve(import.meta.dirname, '../..');
const WORKFLOW = join(ROOT, 'examples/nightly-gameday.yml');

const actionlint = [
  process.env.ACTIONLINT,
  'actionlint',
  join(homedir(), 'go/bin/actionlint'),
  '/usr/local/bin/actionlint',
]
  .filter((p): p is string => Boolean(p))
  .find((p) => {
    try {
      execFileSync(p, ['-version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
const missing = actionlint
  ? ''
  : ' (skipped: actionlint is not installed: go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.7)';

const lint = (file: string) => spawnSync(actionlint!, ['-no-color', file], { encoding: 'utf8' });

describe.skipIf(!actionlint)(`the nightly GitHub Actions workflow${missing}`, () => {
  it('passes actionlint', () => {
    const r = lint(WORKFLOW);
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  });

  it('and actionlint would say so if it did not', () => {
    const broken = join(mkdtempSync(join(tmpdir(), 'chaos-workflow-')), 'nightly.yml');
    writeFileSync(
      broken,
      readFileSync(WORKFLOW, 'utf8').replace('${{ github.run_id }}', '${{ github.run_idd }}'),
    );
    const r = lint(broken);
    expect(r.status).not.toBe(0);
    expect(r.stdout).toMatch(/run_idd/);
  });

  it('runs the nightly suite on Docker, keeps the reports, and restores the earlier nightlies', () => {
    const text = readFileSync(WORKFLOW, 'utf8');
    expect(text).toMatch(/schedule:\n\s+- cron:/);
    expect(text).toContain('bash docker/build-images.sh');
    expect(text).toContain('bin/chaos.js gameday nightly');
    expect(text).toContain('actions/cache/restore@v4');
    expect(text).toContain('actions/upload-artifact@v4');
    expect(existsSync(join(ROOT, 'scenarios/suites/nightly.yaml'))).toBe(true);
  });

  it('finds k6 under sudo: built for the runner, named by K6_BIN, passed through sudo to every step that runs scenarios', () => {
    const text = readFileSync(WORKFLOW, 'utf8');
    expect(text).toContain('go install go.k6.io/k6@v1.8.1');
    expect(text).toMatch(/K6_BIN=\$\(go env GOPATH\)\/bin\/k6" >> "\$GITHUB_ENV"/);
    const gameday = text.split('\n').find((l) => l.includes('bin/chaos.js gameday'))!;
    expect(gameday).toMatch(/sudo --preserve-env=[^ ]*K6_BIN/);
    // The gray faults' tools, found the same way.
    expect(text).toContain('go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0');
    expect(text).toMatch(/apt-get install -y -qq stress-ng/);
    expect(gameday).toMatch(/sudo --preserve-env=[^ ]*TOXIPROXY_BIN/);
  });
});
