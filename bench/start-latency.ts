/**
 * The start-latency benchmark: how long from a manual run being asked for to the job starting,
 * on an idle server, one run at a time. The target is for the no-op job type (p50 ≤ 5 ms,
 * p99 ≤ 20 ms); `/bin/true` (a `command` job, so a process spawn) and the same request through
 * the GraphQL `startRun` mutation over HTTP are printed beside it.
 *
 * Runboard is timed from calling `startRun` (what the mutation does: validate, insert the queued
 * run and its audit event, commit) and waking execution, to its `onRunStarted`; each run finishes
 * before the next is asked for. The peers are timed the same way from `agenda.now()` / `addJob()`
 * to their handler starting, each within its own time cap.
 */
import os from 'node:os';
import { SYSTEM } from '../core/audit';
import { startRun, type Caller } from '../core/run.service';
import { recreateDatabase } from './bench-database';
import { signIn, startRunOverHttp, type Credentials } from './graphql-client';
import { orFailure } from './peer-failure';
import { agendaStartLatency } from './peers/agenda';
import { graphileStartLatency } from './peers/graphile-worker';
import { allPass, printResults, type Row } from './results-table';
import { BENCH_ADMIN, insertScript, startRunboard, type BenchRunboard } from './runboard-in-process';
import { sampleSerially, summarize, type SerialRun, type SerialSamples, type Summary } from './samples';

export interface StartLatencyOptions {
  samples: number;
  /** Seconds each variant may take; a slow one keeps the samples it took by then. */
  capSeconds: number;
  databaseUrl: string;
}

const TARGET = { p50: 5, p99: 20 };
const WARMUP = 50;
/** After starting, Runboard does its housekeeping once (recovering runs, Agenda's first pass): let it, so the server is idle. */
const SETTLE_MS = 2_000;
const CALLER: Caller = { userId: null, username: 'bench', viaApiKey: false };

type Variant = { label: string; result: SerialSamples; target?: boolean };

/** One manual run through the core service, timed to its start; it must then succeed. */
async function inProcessSample(rb: BenchRunboard, scriptId: string, cap: AbortSignal): Promise<number> {
  const began = performance.now();
  const [run] = await startRun({ db: rb.db, actor: SYSTEM }, CALLER, { scriptId });
  if (!run) throw new Error('startRun queued no run on the local host.');
  rb.execution.wake();
  return settle(rb, run.id, began, cap);
}

/** One manual run through the GraphQL mutation over HTTP (which wakes execution itself). */
async function httpSample(rb: BenchRunboard, credentials: Credentials, scriptId: string, cap: AbortSignal): Promise<number> {
  const began = performance.now();
  const runId = await startRunOverHttp(rb.runboard.url, credentials, scriptId);
  return settle(rb, runId, began, cap);
}

/** Waits for the run to start and then finish (so the next sample finds an idle server). */
async function settle(rb: BenchRunboard, runId: string, began: number, cap: AbortSignal): Promise<number> {
  const startedAt = await rb.events.started(runId, cap);
  const state = await rb.events.finished(runId, cap);
  rb.events.forget(runId);
  if (state !== 'succeeded') throw new Error(`A bench run ended ${state}, not succeeded: the figures would not be for a working job.`);
  return startedAt - began;
}

function progress(label: string, total: number): SerialRun['onProgress'] {
  if (!process.stdout.isTTY) return undefined;
  return (done) => {
    process.stdout.write(`\r  ${label}: ${done} / ${total}`);
    if (done === total) process.stdout.write('\n');
  };
}

export async function startLatencyBench(options: StartLatencyOptions): Promise<Record<string, unknown>> {
  const { samples: count, databaseUrl } = options;
  const capMs = options.capSeconds * 1000;
  const run = (label: string): SerialRun => ({ count, warmup: WARMUP, capMs, onProgress: progress(label, count) });
  console.log(`Start-latency benchmark: ${count} serial manual runs per variant (after ${WARMUP} unmeasured), each capped at ${options.capSeconds} s, on ${os.cpus().length} cores.`);
  const loadBefore = os.loadavg()[0]!;
  await recreateDatabase(databaseUrl);

  const variants: Variant[] = [];
  const rb = await startRunboard(databaseUrl);
  let concurrency: number;
  try {
    concurrency = rb.maxParallelRuns;
    const noop = await insertScript(rb.db, 'bench no-op', 'noop', []);
    const binTrue = await insertScript(rb.db, 'bench /bin/true', 'command', ['/bin/true']);
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    variants.push({ label: 'Runboard: no-op job, startRun (core) + wake', target: true, result: await sampleSerially(run('no-op'), (cap) => inProcessSample(rb, noop, cap)) });
    variants.push({ label: 'Runboard: /bin/true (command job)', result: await sampleSerially(run('/bin/true'), (cap) => inProcessSample(rb, binTrue, cap)) });
    const session = await signIn(rb.runboard.url, BENCH_ADMIN);
    variants.push({ label: 'Runboard: no-op job, startRun over HTTP', result: await sampleSerially(run('over HTTP'), (cap) => httpSample(rb, session, noop, cap)) });
  } finally {
    await rb.stop();
  }
  // Peers run after Runboard has stopped, so neither competes with the other for the cores.
  const failed = (error: string): SerialSamples => ({ samples: [], capped: true, error });
  variants.push({
    label: 'peer: Agenda, default settings',
    result: await orFailure('Agenda', () => agendaStartLatency(databaseUrl, 'default', run('Agenda default')), failed),
  });
  variants.push({
    label: 'peer: Agenda, tuned (100 ms poll, concurrency 100)',
    result: await orFailure('Agenda', () => agendaStartLatency(databaseUrl, 'tuned', run('Agenda tuned')), failed),
  });
  variants.push({
    label: `peer: graphile-worker (concurrency ${concurrency})`,
    result: await orFailure('graphile-worker', () => graphileStartLatency(databaseUrl, { concurrency }, run('graphile-worker')), failed),
  });
  const loadAfter = os.loadavg()[0]!;

  const figures = variants.map((v) => ({ ...v, summary: summarize(v.result.samples) }));
  const meets = (s: Summary) => s.p50 !== null && s.p99 !== null && s.p50 <= TARGET.p50 && s.p99 <= TARGET.p99 && s.samples === count;
  const rows: Row[] = figures.map(({ label, summary, target, result }) => ({
    variant: label,
    cells: [summary.samples, summary.p50, summary.p95, summary.p99, summary.max],
    ...(target && { target: `p50 ≤ ${TARGET.p50}, p99 ≤ ${TARGET.p99} ms`, pass: meets(summary) }),
    ...(result.capped && { note: result.error ? `failed: ${result.error}` : `time cap reached after ${summary.samples} of ${count}` }),
  }));
  console.log('\nManual run → job start, on an idle server (ms):\n');
  printResults([{ title: 'samples', decimals: 0 }, { title: 'p50' }, { title: 'p95' }, { title: 'p99' }, { title: 'max' }], rows);
  console.log(`\nLoad average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after (other processes competing for the cores show up in p99).`);

  const [noop, binTrue, http, agendaDefault, agendaTuned, graphile] = figures.map((f) => ({ ...f.summary, capped: f.result.capped, ...(f.result.error && { error: f.result.error }) }));
  return {
    bench: 'start-latency',
    samples: count,
    cores: os.cpus().length,
    loadAverage: [loadBefore, loadAfter].map((l) => Math.round(l * 100) / 100),
    target: TARGET,
    pass: allPass(rows),
    runboard: { noop, binTrue, http },
    peers: { agendaDefault, agendaTuned, graphileWorker: { ...graphile, concurrency } },
  };
}
