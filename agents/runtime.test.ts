import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sleep } from '../core/clock.ts';
import { agentRuntime, stepped } from './runtime.ts';

function runtime(stuckMs: number) {
  const lines: Record<string, unknown>[] = [];
  let stuck = 0;
  const rt = agentRuntime('test agent', () => 'n1', {
    stuckMs,
    write: (l) => lines.push(JSON.parse(l)),
    onStuck: () => stuck++,
  });
  return { rt, lines, types: () => lines.map((l) => l.type), stuck: () => stuck };
}

describe('agent runtime: a call that hangs restarts the agent, named on the timeline', () => {
  it('reports a call still in flight after stuckMs, once, and gives up on the process', async () => {
    const { rt, lines, types, stuck } = runtime(100);
    const r = await rt.step('query pg-a: SELECT 1', () => sleep(400).then(() => 42));
    expect(r).toBe(42);
    expect(types()).toEqual(['agent-stuck']);
    expect(lines[0]).toMatchObject({ node: 'n1', step: 'query pg-a: SELECT 1' });
    expect(lines[0]!.forMs).toBeGreaterThanOrEqual(100);
    expect(stuck()).toBe(1);
  });

  it('says nothing of quick calls, and passes a failure through', async () => {
    const { rt, types, stuck } = runtime(200);
    for (let i = 0; i < 5; i++) await rt.step('fast', () => sleep(60));
    await expect(rt.step('fails', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await sleep(300);
    expect(types()).toEqual([]);
    expect(stuck()).toBe(0);
  });

  it('counts running time: a process whose timers stood still (docker pause) is not hung', async () => {
    const { rt, types } = runtime(200);
    // A synchronous block stands for a frozen process: no timer fires while it lasts, and the
    // watchdog's single late look counts once.
    await rt.step('query while frozen', async () => {
      const until = performance.now() + 600;
      while (performance.now() < until) {}
      await sleep(20);
    });
    expect(types()).toEqual([]);
  });

  it('stepped() names each method call after its object and first argument', async () => {
    const { rt, lines } = runtime(50);
    const registry = {
      base: 'x',
      async get(name: string) {
        await sleep(200);
        return `${this.base}:${name}`;
      },
    };
    const s = stepped(rt.step, 'registry', registry);
    expect(await s.get('pg-writer')).toBe('x:pg-writer');
    expect(s.base).toBe('x');
    expect(lines[0]).toMatchObject({ type: 'agent-stuck', step: 'registry get pg-writer' });
  });
});

describe('agent runtime in its own process: it exits 1, so on-failure restarts it', () => {
  const runAgent = async (body: string) => {
    const { execFile } = await import('node:child_process');
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'chaos-agent-rt-'));
    const file = join(dir, 'agent.mjs');
    writeFileSync(
      file,
      `const { agentRuntime } = await import(${JSON.stringify(new URL('./runtime.ts', import.meta.url).href)});
${body}
`,
    );
    return new Promise<{ code: number | null; lines: Record<string, unknown>[] }>((resolve) => {
      // tsx, from this repository, runs the TypeScript.
      const cwd = fileURLToPath(new URL('..', import.meta.url));
      execFile(process.execPath, ['--import', 'tsx', file], { timeout: 20_000, cwd }, (err, stdout) => {
        const code = err ? ((err as { code?: number }).code ?? null) : 0;
        const lines = stdout
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        rmSync(dir, { recursive: true, force: true });
        resolve({ code, lines });
      });
    });
  };

  it('a hung call: agent-stuck naming it, then exit 1', async () => {
    const r = await runAgent(`const rt = agentRuntime('t', () => 'n1', { stuckMs: 200 });
const keepAlive = setInterval(() => {}, 1000);
await rt.step('query pg-a: SELECT 1', () => new Promise(() => {}));`);
    expect(r.code).toBe(1);
    expect(r.lines.map((l) => l.type)).toEqual(['agent-stuck']);
    expect(r.lines[0]).toMatchObject({ step: 'query pg-a: SELECT 1' });
  });

  it('a stranded promise (the event loop runs dry): agent-crashed naming the call in flight, then exit 1', async () => {
    const r = await runAgent(`const rt = agentRuntime('t', () => 'n1');
rt.step('registry get pg-writer', () => new Promise(() => {}));`);
    expect(r.code).toBe(1);
    expect(r.lines.map((l) => l.type)).toEqual(['agent-crashed']);
    expect(String(r.lines[0]!.error)).toMatch(/event loop ran dry with registry get pg-writer in flight/);
  });
});
