// Figures of each scenario: printed as they are measured, and written to
// test/cluster/results/ (git-ignored): <scenario>.json with every figure, timeline
// pictures as <name>.svg with their data as <name>.timeline.json, and summary.md (the
// global teardown collects the figures of the whole run into it).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { timelineSvg, type TimelineData } from './timeline.js'

export class Results {
  private readonly figures: Record<string, unknown> = {}
  private readonly lines: string[] = []

  constructor(
    private readonly dir: string,
    readonly scenario: string,
  ) {
    mkdirSync(dir, { recursive: true })
  }

  /** Records a figure under `key`, prints `text`, and rewrites the scenario's file. */
  figure(key: string, value: unknown, text: string): void {
    this.figures[key] = value
    this.lines.push(text)
    console.log(`[cluster ${this.scenario}] ${text}`)
    this.flush()
  }

  /** Keeps raw data (e.g. every failed request) in the scenario's file, without a line. */
  attach(key: string, value: unknown): void {
    this.figures[key] = value
    this.flush()
  }

  timeline(name: string, data: TimelineData): string {
    const file = join(this.dir, `${name}.svg`)
    writeFileSync(join(this.dir, `${name}.timeline.json`), JSON.stringify(data))
    writeFileSync(file, timelineSvg(data))
    console.log(`[cluster ${this.scenario}] timeline: ${file}`)
    return file
  }

  private flush(): void {
    writeFileSync(join(this.dir, `${this.scenario}.json`), JSON.stringify({ scenario: this.scenario, at: new Date().toISOString(), figures: this.figures, lines: this.lines }, null, 2))
  }
}

/** summary.md from every scenario file in the results directory. */
export function writeSummary(dir: string, header: string[]): string {
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((f) => f.isFile() && f.name.endsWith('.json') && !f.name.endsWith('.timeline.json'))
    .map((f) => f.name)
    .sort()
  const parts = [...header, '']
  for (const f of files) {
    const r = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { scenario?: string; lines?: string[] }
    if (!r.scenario || !r.lines) continue
    parts.push(`## ${r.scenario}`, '', ...r.lines.map((l) => `- ${l}`), '')
  }
  const file = join(dir, 'summary.md')
  writeFileSync(file, parts.join('\n'))
  return file
}
