/**
 * Latency samples for the execution benchmarks: collect them one after another under a time cap
 * (a slow peer must not hold the run hostage), and summarize them as percentiles.
 */

export interface Summary {
  /** How many samples the figures are from (fewer than asked when the time cap was reached). */
  samples: number;
  /** Milliseconds, rounded to 0.01; null when there were no samples. */
  p50: number | null;
  p95: number | null;
  p99: number | null;
  max: number | null;
}

/** Nearest-rank percentile of sorted samples. */
function percentile(sorted: ArrayLike<number>, q: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? null;
}

export const round = (ms: number) => Math.round(ms * 100) / 100;
const rounded = (ms: number | null) => (ms === null ? null : round(ms));

export function summarize(samples: ArrayLike<number>): Summary {
  // A typed array sorts numerically, and fast: the live-output bench has millions of samples.
  const sorted = Float64Array.from(samples).sort();
  return {
    samples: sorted.length,
    p50: rounded(percentile(sorted, 0.5)),
    p95: rounded(percentile(sorted, 0.95)),
    p99: rounded(percentile(sorted, 0.99)),
    max: rounded(sorted[sorted.length - 1] ?? null),
  };
}

export interface SerialSamples {
  samples: number[];
  /** True when the cap ended sampling before `count` samples. */
  capped: boolean;
  /** Why sampling stopped, when it failed. */
  error?: string;
}

export interface SerialRun {
  /** Samples to keep. */
  count: number;
  /** Samples taken first and thrown away (connections opened, plans cached, code warm). */
  warmup: number;
  /** Stop sampling once this much time has passed, keeping what was taken. */
  capMs: number;
  /** Told of each kept sample, for a progress line. */
  onProgress?: (done: number) => void;
}

/**
 * Takes samples one after another (`sample` resolves to one latency in ms): `warmup` thrown away,
 * then up to `count` kept, stopping early once `capMs` has passed. A sample still waiting at the
 * cap ends the run too: `sample` gets an AbortSignal that fires at the cap and should reject on it.
 */
export async function sampleSerially(run: SerialRun, sample: (signal: AbortSignal) => Promise<number>): Promise<SerialSamples> {
  const samples: number[] = [];
  const cap = AbortSignal.timeout(run.capMs);
  let taken = 0;
  while (samples.length < run.count && !cap.aborted) {
    let latency: number;
    try {
      latency = await sample(cap);
    } catch (error) {
      if (cap.aborted) break;
      throw error;
    }
    if (taken++ < run.warmup) continue;
    samples.push(latency);
    run.onProgress?.(samples.length);
  }
  return { samples, capped: samples.length < run.count };
}

/** `promise`, or a rejection once `signal` aborts first (the listener is removed either way). */
export function capped<T>(promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = () => reject(new Error(`The time cap was reached while waiting for ${what}.`, { cause: signal.reason }));
    if (signal.aborted) return fail();
    signal.addEventListener('abort', fail, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', fail));
  });
}

/** Milliseconds on the wall clock with sub-millisecond precision, comparable across processes. */
export const wallClockMs = () => performance.timeOrigin + performance.now();
