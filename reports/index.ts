import { writeFileSync } from 'node:fs';
import { allureFormat } from './allure.ts';
import type { FormatName, ReportFormat, ReportInput } from './format.ts';
import { htmlFormat } from './html.ts';
import { junitFormat } from './junit.ts';
import { formatSuiteSummary } from './suite-summary.ts';
import { formatSummary } from './summary.ts';

/** The terminal summary (as `chaos run` prints it), one run after the other; a suite's table first. */
const summaryFormat: ReportFormat = {
  name: 'summary',
  fileName: 'summary.txt',
  isFolder: false,
  render: (input: ReportInput) =>
    `${[
      ...(input.suite ? [formatSuiteSummary(input, false)] : []),
      ...input.runs.map((r) => formatSummary(r.result, false)),
    ].join('\n\n')}\n`,
  write(input, out) {
    writeFileSync(out, this.render!(input));
  },
};

/** The canonical result (result.json); a suite's runs as a JSON array. */
const jsonFormat: ReportFormat = {
  name: 'json',
  fileName: 'result.json',
  isFolder: false,
  render: (input: ReportInput) =>
    `${JSON.stringify(input.runs.length === 1 && !input.suite ? input.runs[0]!.result : input.runs.map((r) => r.result), null, 2)}\n`,
  write(input, out) {
    writeFileSync(out, this.render!(input));
  },
};

/** Every report format, by the name `chaos report --format` takes. */
export const FORMATS: Record<FormatName, ReportFormat> = {
  summary: summaryFormat,
  json: jsonFormat,
  junit: junitFormat,
  allure: allureFormat,
  html: htmlFormat,
};

export const FORMAT_NAMES = Object.keys(FORMATS) as FormatName[];

export type { FormatName, ReportFormat, ReportInput };
