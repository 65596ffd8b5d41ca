/// <reference lib="dom" />
// page.evaluate runs in the browser: its code uses the DOM types.
import { mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunResult } from '../../core/result.ts';
import { chromiumMissing, openBrowser } from './browser.ts';
import { chaos, ready, runIdOf, skipReason, tempRunsDir } from './docker.ts';

const ROOT = resolve(import.meta.dirname, '../..');
/** Where the screenshot stays, for a person to look at. */
export const SCREENSHOT = join(tmpdir(), 'chaos-reports', 'html-report.png');
const why = skipReason || (chromiumMissing ? ` (skipped: ${chromiumMissing})` : '');

describe.skipIf(!ready.ok || Boolean(chromiumMissing))(
  `the HTML report of a real run, in Chromium${why}`,
  () => {
    let result: RunResult;
    let browser: BrowserContext;
    let page: Page;
    const outside: string[] = [];

    beforeAll(async () => {
      const runsDir = tempRunsDir();
      const run = await chaos([
        'run',
        join(ROOT, 'test/fixtures/redis-quick.yaml'),
        '--quiet',
        '--runs-dir',
        runsDir,
      ]);
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const runDir = /^ {2}(\/\S+)$/m.exec(run.stdout)![1]!;
      expect(runDir).toContain(runIdOf(run.stdout)!);
      result = JSON.parse(readFileSync(join(runDir, 'result.json'), 'utf8'));
      const html = await chaos(['report', runDir, '--format', 'html']);
      expect(html.code, html.stderr).toBe(0);
      expect(html.stdout.trim()).toBe(`html report of run ${result.runId}: ${join(runDir, 'report.html')}`);
      browser = await openBrowser();
      page = await browser.newPage();
      // one file that opens offline: anything but the file itself is refused, and counted
      await page.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith('file:')) return route.continue();
        outside.push(url);
        return route.abort();
      });
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(`file://${join(runDir, 'report.html')}`);
      await page.waitForSelector('body[data-charts-ready]', { timeout: 15_000 });
      expect(errors).toEqual([]);
    }, 110_000);

    afterAll(async () => {
      await browser?.close();
    });

    const figure = async (name: string) => {
      const el = page.locator(`[data-figure="${name}"]`).first();
      return {
        value: await el.getAttribute('data-value'),
        text: (await el.locator('.value').textContent()) ?? '',
      };
    };

    it('shows the verdict and the figures of result.json at the top', async () => {
      expect(await page.locator('[data-figure="verdict"]').first().textContent()).toBe('PASS');
      expect(result.verdict).toBe('pass');
      const a = result.probes[0]!.windows[0]!.availability;
      for (const [name, v] of [
        ['failover', a.failoverMs],
        ['unavailability', a.unavailabilityMs],
        ['detection', a.detectionMs],
      ] as const) {
        const f = await figure(name);
        expect(Number(f.value), name).toBe(v);
        expect(f.text, name).toBe(`${Math.round(v!)} ms`);
      }
      const w = result.probes[0]!.writes!;
      expect(await figure('lost')).toEqual({ value: String(w.lost), text: String(w.lost) });
      expect(await figure('attempted')).toEqual({ value: String(w.attempted), text: String(w.attempted) });
      const c = result.systems[0]!.convergence!;
      expect(await figure('full-redundancy')).toEqual({
        value: String(c.timeToFullRedundancyMs),
        text: `${Math.round(c.timeToFullRedundancyMs!)} ms`,
      });
      const top = await page.locator('[data-figure="failover"]').first().boundingBox();
      const chart = await page.locator('.chart').first().boundingBox();
      expect(top!.y).toBeLessThan(chart!.y);
    });

    it('draws the timeline from the fault applied, its window ending where the probe recovered', async () => {
      const fault = result.faults[0]!;
      const a = result.probes[0]!.windows[0]!.availability;
      const origin = fault.tApplied!; // every time on the page counts from here
      expect(await page.locator('.origin').first().getAttribute('data-origin')).toBe(String(origin));
      const drawn = await page.evaluate(() => {
        const host = document.querySelector('.chart')!;
        const over = host.querySelector('.ops .u-over') as HTMLElement;
        const canvas = host.querySelector('.ops canvas') as HTMLCanvasElement;
        const px = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data;
        let inked = 0;
        for (let i = 0; i < px.length; i += 4)
          if (px[i + 3]! > 0 && (px[i]! < 200 || px[i + 1]! < 200)) inked++;
        const box = (el: Element | null) => {
          if (!el) return null;
          const r = el.getBoundingClientRect();
          const o = over.getBoundingClientRect();
          return {
            left: r.left - o.left,
            right: r.right - o.left,
            width: r.width,
            height: r.height,
            data: { ...(el as HTMLElement).dataset },
          };
        };
        return {
          width: over.clientWidth,
          inked,
          fault: box(over.querySelector('.band.fault')),
          unavailable: box(over.querySelector('.band.unavailable')),
          stall: box(over.querySelector('.band.stall')),
          failover: box(over.querySelector('.marker.failover')),
          applied: box(over.querySelector('.marker.applied')),
          record: box(over.querySelector('.marker.record')),
          decisions: over.querySelectorAll('.marker.decision').length,
          failoverLabel: over.querySelector('.marker.failover .tag')?.textContent,
        };
      });
      expect(drawn.inked).toBeGreaterThan(2000); // uPlot drew the series
      const series = result.probes[0]!.series;
      const sec = (t: number) => Math.round(t - origin) / 1000;
      const x0 = sec(series.start);
      const x1 = sec(series.start + series.counts.length * series.bucketMs);
      const at = (t: number) => ((sec(t) - x0) / (x1 - x0)) * drawn.width;
      const data = await page.evaluate(() => JSON.parse(document.getElementById('chaos-data')!.textContent!));
      expect(data.runs[0]).toMatchObject({ origin, originLabel: 'fault #1 applied' });
      // the fault's window: from its injection to the probe's stable success, not to the chart's end
      expect(Number(drawn.fault!.data.from)).toBe(sec(fault.tInject));
      expect(Number(drawn.fault!.data.to)).toBe(sec(a.recoveredAt!));
      expect(Math.abs(drawn.fault!.left - at(fault.tInject))).toBeLessThan(3);
      expect(Math.abs(drawn.fault!.right - at(a.recoveredAt!))).toBeLessThan(3);
      expect(drawn.fault!.right).toBeLessThan(drawn.width - 20);
      expect(Math.abs(drawn.failover!.left - drawn.fault!.right)).toBeLessThan(3);
      expect(Number(drawn.failover!.data.value)).toBe(a.failoverMs);
      expect(Math.abs(drawn.failover!.left - at(a.faultAt + a.failoverMs!))).toBeLessThan(3);
      expect(drawn.failover!.height).toBeGreaterThan(100);
      expect(drawn.failoverLabel).toBe(`failover ${Math.round(a.failoverMs!)} ms after fault #1 applied`);
      expect(Math.abs(drawn.applied!.left - at(origin))).toBeLessThan(3);
      expect(drawn.unavailable!.width).toBeGreaterThan(5);
      expect(drawn.record).not.toBeNull();
      expect(drawn.decisions).toBeGreaterThan(0);
      // the stall, where the history puts it
      expect(drawn.stall).not.toBeNull();
      expect(
        Math.abs(drawn.stall!.right - drawn.stall!.left - (at(origin + a.longestStallMs!) - at(origin))),
      ).toBeLessThan(3);
    });

    it('has a stall card with the longest stretch with no write acknowledged', async () => {
      const a = result.probes[0]!.windows[0]!.availability;
      const card = page.locator('[data-figure="stall"]').first();
      expect(Number(await card.getAttribute('data-value'))).toBe(a.longestStallMs);
      expect(await card.locator('.value').textContent()).toBe(`${Math.round(a.longestStallMs!)} ms`);
      expect(await card.locator('.label').textContent()).toBe('fault #1 longest stall');
      const note = (await card.locator('.note').textContent()) ?? '';
      expect(note).toMatch(
        /^the longest stretch with no write acknowledged, after fault #1 was applied: [+−]\d+\.\d{3} s -> \+\d+\.\d{3} s/,
      );
      expect(await card.isVisible()).toBe(true);
      const lag = page.locator('[data-figure="apply-lag"]').first();
      const f = result.faults[0]!;
      expect(Number(await lag.getAttribute('data-value'))).toBe(f.applyLagMs);
    });

    it('embeds the scenario as run, folded until asked for', async () => {
      const block = page.locator('details[data-section="scenario"]');
      expect(await block.count()).toBe(1);
      const code = block.locator('pre code');
      expect(await code.isVisible()).toBe(false);
      await block.locator('summary').click();
      expect(await code.isVisible()).toBe(true);
      const text = (await code.textContent()) ?? '';
      expect(text).toMatch(/^name: redis-quick$/m);
      expect(text).toMatch(/^observeMs: 1500$/m);
      expect(text).toMatch(/^faults:\n {2}- [\s\S]*^ {4}action: kill$/m);
      expect(text).toMatch(/^ {4}target: redis:head$/m);
      // and each node's log is a link into the run folder, relative to the page
      const logs = await page
        .locator('[data-section="logs"] ul.logs a')
        .evaluateAll((els) => els.map((e) => e.getAttribute('href')));
      expect(logs.filter((h) => h!.startsWith('logs/redis-a.')).length).toBeGreaterThan(0);
      await block.locator('summary').click();
    });

    it('opens offline and saves a screenshot a person can look at', async () => {
      expect(outside).toEqual([]);
      mkdirSync(join(SCREENSHOT, '..'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      console.log(`screenshot of the HTML report of run ${result.runId}: ${SCREENSHOT}`);
      expect(readFileSync(SCREENSHOT).length).toBeGreaterThan(50_000);
    });
  },
);
