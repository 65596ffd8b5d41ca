import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlFiles } from './control.ts';

describe('the control files between a Postgres agent and its supervisor', () => {
  const dirs: string[] = [];
  const files = () => {
    const dir = mkdtempSync(join(tmpdir(), 'chaos-control-'));
    dirs.push(dir);
    return new ControlFiles(dir);
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('a role is written whole, with a restart request only when asked', () => {
    const c = files();
    c.setRole('standby pg-b', false);
    expect(readFileSync(join(c.dir, 'role'), 'utf8')).toBe('standby pg-b\n');
    expect(existsSync(join(c.dir, 'restart'))).toBe(false);
    expect(existsSync(join(c.dir, 'role.tmp'))).toBe(false);
    c.setRole('standby pg-c rewind', true);
    expect(readFileSync(join(c.dir, 'restart'), 'utf8')).toBe('standby pg-c rewind\n');
  });

  it('a fence withdraws the role in force, so the supervisor waits for the next one', () => {
    const c = files();
    c.setRole('primary', false);
    c.fence(1234);
    expect(existsSync(join(c.dir, 'role'))).toBe(false);
    expect(readFileSync(join(c.dir, 'fence'), 'utf8')).toBe('1234\n');
    // The role the agent gives after the fence stays, whenever the supervisor gets to the fence.
    c.setRole('standby pg-b', false);
    expect(readFileSync(join(c.dir, 'role'), 'utf8')).toBe('standby pg-b\n');
  });

  it('the supervisor never removes the role when it handles a fence', () => {
    // The race that left a thawed primary waiting for ever: the agent fenced, then gave the role
    // `standby pg-b`, and the supervisor, reaching the fence only then, removed that role.
    const script = readFileSync(join(import.meta.dirname, 'node.sh'), 'utf8');
    const fenceBranch = script.slice(
      script.indexOf('if [ -f "$CTL/fence" ]'),
      script.indexOf('if lease_lapsed; then'),
    );
    expect(fenceBranch).toContain('rm -f "$CTL/fence"');
    expect(fenceBranch).not.toMatch(/rm -f[^\n]*\$CTL\/role/);
  });

  it('only the dead-man switch withdraws the role: when the agent is gone (a live one gives it again)', () => {
    // A live agent whose server went down writes its role on every check (agent.test.ts), so the
    // role the switch removes comes back if the agent was only late; a gone one gives none.
    const script = readFileSync(join(import.meta.dirname, 'node.sh'), 'utf8');
    const loop = script.slice(script.indexOf('if lease_lapsed; then'));
    const watchdog = loop.slice(0, loop.indexOf('if [ -f "$CTL/restart" ]'));
    expect(watchdog).toMatch(/rm -f[^\n]*\$CTL\/role/);
    expect(watchdog).toContain('event watchdog-fenced');
    expect(loop.slice(watchdog.length)).not.toMatch(/rm -f[^\n]*\$CTL\/role/);
  });
});
