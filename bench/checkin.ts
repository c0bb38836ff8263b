/**
 * The check-in benchmark (issue 6): Scripto's own client reporting, `PUT /api/v1/script/<id>`
 * with `{"last_exec":"CURRENT_TIMESTAMP",…,"status":1}`, from 100 connections without
 * pipelining, every report a durable commit (synchronous_commit as the server has it, printed).
 * Target: ≥ 5,000 requests/s at p99 ≤ 30 ms, and ≥ 0.7 of the peer's throughput.
 *
 * Runboard runs as a child process (`server.ts`, as an operator starts it) with an operator's API
 * key sent as Bearer; the reports go to 1,000 scripts in turn (a fleet, not one hot row). The
 * peer, measured next in the same run on the same database: a bare `node:http` + `pg` server
 * doing one INSERT per request (bench/peers/bare-checkin-server.ts). Load comes from autocannon
 * in this process; both servers have a core's worth of contention from it alike.
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { recreateDatabase } from './bench-database';
import { createApiKey, signIn } from './graphql-client';
import { orFailure } from './peer-failure';
import { allPass, printResults, type Row } from './results-table';
import { BENCH_ADMIN } from './runboard-in-process';
import { freePort, startChildRunboard } from './runboard-child-process';

export interface CheckinOptions {
  connections: number;
  seconds: number;
  scripts: number;
  databaseUrl: string;
}

const TARGET_RPS = 5_000;
const TARGET_P99_MS = 30;
const TARGET_RATIO = 0.7;
const WARMUP_SECONDS = 3;
const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));

interface LoadFigures {
  requestsPerSecond: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  error?: string;
}

/** Runs the load against `url` for `seconds` (after a warm-up that is not counted); script `ids[n]` is job-<n>.sh. */
async function load(url: string, options: CheckinOptions, headers: Record<string, string>, ids: number[]): Promise<LoadFigures> {
  let next = 0;
  const requests = [
    {
      method: 'PUT' as const,
      setupRequest: (request: autocannon.Request) => {
        const n = next++ % ids.length;
        return {
          ...request,
          path: `/api/v1/script/${ids[n]}`,
          body: JSON.stringify({ last_exec: 'CURRENT_TIMESTAMP', name: `job-${n}.sh`, server: `host-${n % 50}`, status: 1 }),
        };
      },
    },
  ];
  const run = (duration: number) =>
    autocannon({
      url,
      connections: options.connections,
      pipelining: 1,
      duration,
      timeout: 10,
      headers: { 'content-type': 'application/json', ...headers },
      requests,
    });
  await run(WARMUP_SECONDS);
  const result = await run(options.seconds);
  return {
    requestsPerSecond: Math.round(result.requests.total / options.seconds),
    p50: result.latency.p50,
    p90: result.latency.p90,
    p99: result.latency.p99,
    max: result.latency.max,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

/** Makes the scripts through Scripto itself (POST), returning their ids. */
async function makeScripts(url: string, headers: Record<string, string>, count: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < count; i += 50) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(50, count - i) }, async (_, j) => {
        const n = i + j;
        const response = await fetch(`${url}/api/v1/script`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ last_exec: 'CURRENT_TIMESTAMP', name: `job-${n}.sh`, server: `host-${n % 50}`, status: 1 }),
        });
        if (response.status !== 201) throw new Error(`creating a script answered ${response.status}: ${await response.text()}`);
        return ((await response.json()) as { id: number }).id;
      }),
    );
    ids.push(...batch);
  }
  return ids;
}

async function runboardLoad(options: CheckinOptions): Promise<LoadFigures & { pings: number }> {
  const runboard = await startChildRunboard(options.databaseUrl);
  try {
    const session = await signIn(runboard.url, BENCH_ADMIN);
    const { apiKey } = await createApiKey(runboard.url, session, 'checkin bench');
    const headers = { authorization: `Bearer ${apiKey}` };
    const ids = await makeScripts(runboard.url, headers, options.scripts);
    const figures = await load(runboard.url, options, headers, ids);
    const client = new pg.Client({ connectionString: options.databaseUrl });
    await client.connect();
    const { rows } = await client.query<{ n: number }>('select count(*)::int as n from pings');
    await client.end();
    return { ...figures, pings: rows[0]!.n };
  } finally {
    await runboard.stop();
  }
}

async function bareLoad(options: CheckinOptions): Promise<LoadFigures> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--max-semi-space-size=32', '--import', 'tsx', path.join(BENCH_DIR, 'peers', 'bare-checkin-server.ts'), options.databaseUrl, String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production' },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout!.setEncoding('utf8').on('data', (text: string) => text.includes('listening') && resolve());
      child.once('exit', (code) => reject(new Error(`the bare server exited (code ${code})`)));
    });
    const ids = Array.from({ length: options.scripts }, (_, i) => i + 1);
    return await load(`http://127.0.0.1:${port}`, options, {}, ids);
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => (child.exitCode !== null ? resolve(undefined) : child.once('exit', resolve)));
  }
}

async function durability(databaseUrl: string): Promise<{ synchronousCommit: string; fsync: string }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const sync = await client.query<{ synchronous_commit: string }>('show synchronous_commit');
    const fsync = await client.query<{ fsync: string }>('show fsync');
    return { synchronousCommit: sync.rows[0]!.synchronous_commit, fsync: fsync.rows[0]!.fsync };
  } finally {
    await client.end();
  }
}

export async function checkinBench(options: CheckinOptions): Promise<Record<string, unknown>> {
  const { databaseUrl } = options;
  await recreateDatabase(databaseUrl);
  const durable = await durability(databaseUrl);
  console.log(
    `Check-in benchmark: PUT /api/v1/script/<id> (CURRENT_TIMESTAMP), ${options.connections} connections, no pipelining, ` +
      `${options.seconds} s measured after ${WARMUP_SECONDS} s of warm-up, ${options.scripts.toLocaleString('en')} scripts, on ${os.cpus().length} cores; ` +
      `PostgreSQL synchronous_commit=${durable.synchronousCommit}, fsync=${durable.fsync}.`,
  );
  const loadBefore = os.loadavg()[0]!;
  const failed = (error: string): LoadFigures => ({ requestsPerSecond: 0, p50: 0, p90: 0, p99: 0, max: 0, requests: 0, non2xx: 0, errors: 0, timeouts: 0, error });
  const runboard = await runboardLoad(options);
  const bare = await orFailure('bare node:http + pg', () => bareLoad(options), failed);
  const loadAfter = os.loadavg()[0]!;

  const ratio = bare.requestsPerSecond > 0 ? Math.round((runboard.requestsPerSecond / bare.requestsPerSecond) * 100) / 100 : null;
  const clean = runboard.non2xx === 0 && runboard.errors === 0 && runboard.timeouts === 0;
  const meets = runboard.requestsPerSecond >= TARGET_RPS && runboard.p99 <= TARGET_P99_MS && clean;
  const cells = (f: LoadFigures) => [f.requestsPerSecond, f.p50, f.p90, f.p99, f.max, f.non2xx + f.errors + f.timeouts];
  const rows: Row[] = [
    {
      variant: 'Runboard: Scripto PUT (auth, GraphQL, check + ping)',
      cells: cells(runboard),
      target: `≥ ${TARGET_RPS.toLocaleString('en')}/s, p99 ≤ ${TARGET_P99_MS} ms`,
      pass: meets,
      note: clean ? undefined : `${runboard.non2xx} non-2xx, ${runboard.errors} errors, ${runboard.timeouts} timeouts`,
    },
    { variant: 'peer: bare node:http + pg, one INSERT', cells: cells(bare), note: bare.error && `failed: ${bare.error}` },
    {
      variant: 'Runboard ÷ peer (throughput)',
      cells: [ratio === null ? null : `${ratio.toFixed(2)}×`],
      target: `≥ ${TARGET_RATIO} (aim)`,
      pass: ratio === null ? undefined : ratio >= TARGET_RATIO,
    },
  ];
  console.log('\nRequests per second, latency (ms) and failed requests:\n');
  printResults([{ title: 'req/s', decimals: 0 }, { title: 'p50' }, { title: 'p90' }, { title: 'p99' }, { title: 'max' }, { title: 'failed', decimals: 0 }], rows);
  console.log(`\nRunboard recorded ${runboard.pings.toLocaleString('en')} pings for ${(runboard.requests + 0).toLocaleString('en')} measured requests (plus warm-up and set-up).`);
  console.log(`Load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after.`);
  const json = (f: LoadFigures) => ({ requestsPerSecond: f.requestsPerSecond, latencyMs: { p50: f.p50, p90: f.p90, p99: f.p99, max: f.max }, requests: f.requests, failed: f.non2xx + f.errors + f.timeouts, ...(f.error && { error: f.error }) });
  return {
    bench: 'checkin',
    connections: options.connections,
    seconds: options.seconds,
    scripts: options.scripts,
    cores: os.cpus().length,
    durability: durable,
    loadAverage: [loadBefore, loadAfter].map((l) => Math.round(l * 100) / 100),
    target: { requestsPerSecond: TARGET_RPS, p99Ms: TARGET_P99_MS, ratioToPeer: TARGET_RATIO },
    pass: allPass(rows.slice(0, 1)),
    ratioToPeer: ratio,
    runboard: json(runboard),
    peers: { bare: json(bare) },
  };
}
