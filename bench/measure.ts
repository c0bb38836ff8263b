/** Timing for benchmarks: repeat an operation, keep every latency, report percentiles. */

export interface Figures {
  /** Milliseconds, rounded to 0.01. */
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** SQL statements per request: the median, so one background statement does not count. */
  statements: number;
  /** The fewest and most seen, when they differ. */
  statementsRange?: [number, number];
  /** CPU time of this process per request (user + system, ms): what the work costs when no
   * other process competes for a core, unlike the latencies. */
  cpuMs: number;
  requests: number;
}

/** Nearest-rank percentile of sorted samples. */
function percentile(sorted: number[], q: number): number {
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? Number.NaN;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

/**
 * Runs `operation` `warmup` times unmeasured (plans cached, pool connections open, JIT warm), then
 * `requests` times one after another, timing each and counting the statements it sent.
 */
export async function measure(
  requests: number,
  operation: () => Promise<unknown>,
  statements: () => number,
  warmup = Math.min(200, requests),
): Promise<Figures> {
  for (let i = 0; i < warmup; i++) await operation();
  const samples: number[] = [];
  const counts: number[] = [];
  const cpu = process.cpuUsage();
  for (let i = 0; i < requests; i++) {
    const before = statements();
    const began = performance.now();
    await operation();
    samples.push(performance.now() - began);
    counts.push(statements() - before);
  }
  const { user, system } = process.cpuUsage(cpu);
  samples.sort((a, b) => a - b);
  counts.sort((a, b) => a - b);
  const least = counts[0] ?? 0;
  const most = counts[counts.length - 1] ?? 0;
  return {
    p50: round(percentile(samples, 0.5)),
    p95: round(percentile(samples, 0.95)),
    p99: round(percentile(samples, 0.99)),
    max: round(samples[samples.length - 1] ?? Number.NaN),
    statements: percentile(counts, 0.5),
    ...(least !== most && { statementsRange: [least, most] as [number, number] }),
    cpuMs: round((user + system) / 1000 / requests),
    requests,
  };
}

/** One table row per measured variant, aligned, for people reading the terminal. */
export function printTable(rows: Array<{ label: string; figures: Figures; note?: string }>): void {
  const width = Math.max(...rows.map((r) => r.label.length));
  const cell = (value: number) => value.toFixed(2).padStart(8);
  console.log(`${'variant'.padEnd(width)}  ${'p50 ms'.padStart(8)}${'p95 ms'.padStart(8)}${'p99 ms'.padStart(8)}${'max ms'.padStart(8)}${'cpu ms'.padStart(8)}  statements`);
  for (const { label, figures, note } of rows) {
    const range = figures.statementsRange;
    const statements = range ? `${figures.statements} (${range[0]}–${range[1]})` : `${figures.statements}`;
    console.log(
      `${label.padEnd(width)}  ${cell(figures.p50)}${cell(figures.p95)}${cell(figures.p99)}${cell(figures.max)}${cell(figures.cpuMs)}  ${statements.padStart(10)}${note ? `  ${note}` : ''}`,
    );
  }
}
