/**
 * The live-output benchmark: a run whose script prints 20,000 lines a second for 10 s
 * (bench/line-printer.mjs: each line carries its number and the time it was printed), followed
 * by 10 graphql-ws subscribers of `runOutput`. The issue's targets: p99 print → subscriber
 * ≤ 50 ms, no line lost or out of order for any subscriber, and every line stored (read back from
 * `run_output` afterwards). The server's peak memory (VmHWM) is printed beside them.
 *
 * Runboard runs as a child process (`node --max-semi-space-size=32 --import tsx server.ts`) so
 * the subscribers' work does not share its event loop; the bench talks to it over GraphQL only
 * (sign in, an API key, createScript, startRun, then the subscriptions). The floor, in the same
 * run: the same printer piped straight into a bare `ws` fan-out (bench/peers/ws-fanout.ts).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'graphql-ws';
import pg from 'pg';
import WebSocket from 'ws';
import { GRAPHQL_PATH } from '../graphql/yoga';
import { recreateDatabase } from './bench-database';
import { createApiKey, createCommandScript, signIn, startRunOverHttp } from './graphql-client';
import { LineTally, type TallyFigures } from './line-tally';
import { orFailure } from './peer-failure';
import { memoryOf, type ProcessMemory } from './process-memory';
import { allPass, printResults, type Row } from './results-table';
import { BENCH_ADMIN } from './runboard-in-process';
import { freePort, startChildRunboard } from './runboard-child-process';
import { summarize, wallClockMs, type Summary } from './samples';

export interface LiveOutputOptions {
  /** Lines a second. */
  rate: number;
  seconds: number;
  subscribers: number;
  /** Seconds past the printing each variant may take to deliver everything. */
  capSeconds: number;
  databaseUrl: string;
}

const TARGET_P99_MS = 50;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const PRINTER = path.join(HERE, 'line-printer.mjs');
const FANOUT = path.join(HERE, 'peers', 'ws-fanout.ts');
const READY_WAIT_MS = 30_000;
const SUBSCRIPTION = 'subscription($runId: ID!) { runOutput(runId: $runId) { seq data } }';

/** What the readers of one variant saw. */
interface Delivery {
  lateness: Summary;
  perReader: Array<TallyFigures & { p99: number | null }>;
  /** Problems that make the figures incomplete (a reader failed, the cap was reached). */
  problems: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitUntil(done: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`Gave up after ${ms / 1000} s waiting for ${what}.`);
    await sleep(10);
  }
}

/** Waits for every promise, or until `ms` passed; says which did not settle or failed. */
async function settleWithin(promises: Array<Promise<unknown>>, ms: number, what: string): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<'cap'>((resolve) => (timer = setTimeout(() => resolve('cap'), ms)));
  const outcomes = await Promise.all(promises.map((p) => Promise.race([p.then(() => 'ok' as const, (e: Error) => e.message), cap])));
  clearTimeout(timer);
  return outcomes.flatMap((outcome, i) => (outcome === 'ok' ? [] : [`${what} ${i + 1}: ${outcome === 'cap' ? `not done within ${ms / 1000} s` : outcome}`]));
}

function delivery(tallies: LineTally[], problems: string[]): Delivery {
  const all = new Float64Array(tallies.reduce((n, t) => n + t.lateness().length, 0));
  let at = 0;
  for (const tally of tallies) {
    all.set(tally.lateness(), at);
    at += tally.lateness().length;
  }
  const malformed = tallies.flatMap((t, i) => (t.malformed ? [`reader ${i + 1} got a line it could not read: ${t.malformed}`] : []));
  return {
    lateness: summarize(all),
    perReader: tallies.map((t) => ({ ...t.figures(), p99: summarize(t.lateness()).p99 })),
    problems: [...problems, ...malformed],
  };
}

const goFileName = (side: string) => path.join(os.tmpdir(), `runboard-bench-go-${side}-${process.pid}-${Date.now()}`);

/** The stored output of `runId` read back in order, checked line by line. */
async function storedLines(databaseUrl: string, runId: string, expected: number): Promise<{ tally: TallyFigures; chunks: number; state: string; malformed?: string }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const run = await client.query<{ state: string }>('select state from runs where id = $1', [runId]);
    const chunks = await client.query<{ data: string }>(`select data from run_output where run_id = $1 and stream = 'stdout' order by seq`, [runId]);
    const tally = new LineTally(expected);
    for (const chunk of chunks.rows) tally.feed(chunk.data, 0);
    return { tally: tally.figures(), chunks: chunks.rowCount ?? 0, state: run.rows[0]?.state ?? 'missing', ...(tally.malformed && { malformed: tally.malformed }) };
  } finally {
    await client.end();
  }
}

async function runboardSide(options: LiveOutputOptions) {
  const expected = options.rate * options.seconds;
  const server = await startChildRunboard(options.databaseUrl);
  const goFile = goFileName('runboard');
  const clients: Array<ReturnType<typeof createClient>> = [];
  try {
    const session = await signIn(server.url, BENCH_ADMIN);
    const key = await createApiKey(server.url, session, 'bench live-output');
    const args = [process.execPath, PRINTER, '--rate', String(options.rate), '--seconds', String(options.seconds), '--go', goFile];
    const scriptId = await createCommandScript(server.url, session, 'bench line printer', args, options.seconds + options.capSeconds + 60);
    const runId = await startRunOverHttp(server.url, key, scriptId);

    const tallies = Array.from({ length: options.subscribers }, () => new LineTally(expected));
    const finished = tallies.map((tally) => {
      const client = createClient({
        url: `${server.url.replace(/^http/, 'ws')}${GRAPHQL_PATH}`,
        webSocketImpl: WebSocket,
        connectionParams: { apiKey: key.apiKey },
        retryAttempts: 0,
      });
      clients.push(client);
      return new Promise<void>((resolve, reject) => {
        client.subscribe<{ runOutput: { seq: number; data: string } }>(
          { query: SUBSCRIPTION, variables: { runId } },
          {
            next: (result) => {
              const receivedAt = wallClockMs();
              if (result.data) tally.feed(result.data.runOutput.data, receivedAt);
              else reject(new Error(`runOutput sent errors: ${JSON.stringify(result.errors).slice(0, 300)}`));
            },
            error: (error) => reject(new Error(`the subscription failed: ${error instanceof Error ? error.message : JSON.stringify(error).slice(0, 300)}`)),
            complete: resolve,
          },
        );
      });
    });
    await waitUntil(() => tallies.every((t) => t.ready), READY_WAIT_MS, `every subscriber to receive the printer's first line (run ${runId})`);
    const idle = memoryOf(server.pid);
    fs.writeFileSync(goFile, '');
    const problems = await settleWithin(finished, (options.seconds + options.capSeconds) * 1000, 'subscriber');
    const memory = memoryOf(server.pid);
    const stored = await storedLines(options.databaseUrl, runId, expected);
    return { delivery: delivery(tallies, problems), stored, memory, idle };
  } finally {
    await Promise.all(clients.map((client) => client.dispose()));
    await server.stop();
    fs.rmSync(goFile, { force: true });
  }
}

/** The floor: the printer piped into a bare `ws` fan-out in its own process. */
async function floorSide(options: LiveOutputOptions): Promise<{ delivery: Delivery; memory: { peakMiB: number | null } }> {
  const expected = options.rate * options.seconds;
  const port = await freePort();
  const goFile = goFileName('floor');
  const printer = [process.execPath, PRINTER, '--rate', String(options.rate), '--seconds', String(options.seconds), '--go', goFile];
  const fanout = spawn(
    process.execPath,
    ['--import', 'tsx', FANOUT, '--port', String(port), '--clients', String(options.subscribers), '--cap', String(options.seconds + options.capSeconds), '--', ...printer],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let printed = '';
  fanout.stdout.setEncoding('utf8').on('data', (text: string) => (printed += text));
  const exited = new Promise<void>((resolve) => fanout.once('exit', () => resolve()));
  const sockets: WebSocket[] = [];
  try {
    await waitUntil(() => printed.includes('listening') || fanout.exitCode !== null, READY_WAIT_MS, 'the ws fan-out to listen');
    if (fanout.exitCode !== null) throw new Error(`the ws fan-out exited (code ${fanout.exitCode}) before it listened`);
    const tallies = Array.from({ length: options.subscribers }, () => new LineTally(expected));
    const closed = tallies.map((tally) => {
      const socket = new WebSocket(`ws://127.0.0.1:${port}`);
      sockets.push(socket);
      socket.on('message', (data: Buffer) => tally.feed(data.toString('utf8'), wallClockMs()));
      return new Promise<void>((resolve, reject) => {
        socket.once('close', () => resolve());
        socket.once('error', (error) => reject(error));
      });
    });
    await waitUntil(() => tallies.every((t) => t.ready), READY_WAIT_MS, "every reader to receive the printer's first line");
    fs.writeFileSync(goFile, '');
    const problems = await settleWithin(closed, (options.seconds + options.capSeconds) * 1000, 'reader');
    await Promise.race([exited, sleep(5_000)]);
    const report = /\{"peakMiB".*\}/.exec(printed)?.[0];
    return { delivery: delivery(tallies, problems), memory: report ? (JSON.parse(report) as { peakMiB: number | null }) : { peakMiB: null } };
  } finally {
    for (const socket of sockets) socket.terminate();
    if (fanout.exitCode === null && fanout.signalCode === null) fanout.kill('SIGKILL');
    await exited;
    fs.rmSync(goFile, { force: true });
  }
}

const sum = (readers: TallyFigures[], field: keyof TallyFigures) => readers.reduce((n, r) => n + r[field], 0);

export async function liveOutputBench(options: LiveOutputOptions): Promise<Record<string, unknown>> {
  const { rate, seconds, subscribers } = options;
  const expected = rate * seconds;
  console.log(
    `Live-output benchmark: ${rate.toLocaleString('en')} lines/s for ${seconds} s (${expected.toLocaleString('en')} lines) to ${subscribers} subscribers, ` +
      `capped at ${options.capSeconds} s past the printing, on ${os.cpus().length} cores.`,
  );
  const loadBefore = os.loadavg()[0]!;
  await recreateDatabase(options.databaseUrl);
  const runboard = await runboardSide(options);
  const floor = await orFailure('the ws fan-out floor', () => floorSide(options), (error) => ({
    delivery: { lateness: summarize([]), perReader: [], problems: [error] },
    memory: { peakMiB: null },
  }));
  const loadAfter = os.loadavg()[0]!;

  const readers = runboard.delivery.perReader;
  const intact = readers.length === subscribers && readers.every((r) => r.lost === 0 && r.reordered === 0 && r.duplicated === 0);
  const p99 = runboard.delivery.lateness.p99;
  const stored = runboard.stored;
  const allStored = stored.tally.lost === 0 && stored.tally.reordered === 0 && stored.tally.duplicated === 0 && !stored.malformed;
  const cells = (received: number, lost: number, reordered: number, s: Summary | null, peak: number | null | undefined) => [
    received, lost, reordered, s?.p50, s?.p95, s?.p99, s?.max, peak,
  ];
  const floorReaders = floor.delivery.perReader;
  const rows: Row[] = [
    {
      variant: `Runboard: runOutput to ${subscribers} subscribers`,
      cells: cells(sum(readers, 'received'), sum(readers, 'lost'), sum(readers, 'reordered') + sum(readers, 'duplicated'), runboard.delivery.lateness, runboard.memory?.peakMiB),
      target: `p99 ≤ ${TARGET_P99_MS} ms, none lost or out of order`,
      pass: p99 !== null && p99 <= TARGET_P99_MS && intact && runboard.delivery.problems.length === 0,
      ...(runboard.delivery.problems.length > 0 && { note: runboard.delivery.problems.join('; ') }),
    },
    {
      variant: 'Runboard: stored in run_output',
      cells: cells(stored.tally.received, stored.tally.lost, stored.tally.reordered + stored.tally.duplicated, null, undefined),
      target: 'every line, in order',
      pass: allStored,
      note: `${stored.chunks.toLocaleString('en')} chunks; the run ${stored.state}${stored.malformed ? `; unreadable line: ${stored.malformed}` : ''}`,
    },
    {
      variant: `floor: printer → bare ws fan-out, ${subscribers} readers`,
      cells: cells(sum(floorReaders, 'received'), sum(floorReaders, 'lost'), sum(floorReaders, 'reordered') + sum(floorReaders, 'duplicated'), floor.delivery.lateness, floor.memory.peakMiB),
      ...(floor.delivery.problems.length > 0 && { note: floor.delivery.problems.join('; ') }),
    },
  ];
  console.log(`\nLines printed → received by each reader (${(expected * subscribers).toLocaleString('en')} expected in all), lateness in ms, peak memory of the serving process:\n`);
  printResults(
    [
      { title: 'received', decimals: 0 },
      { title: 'lost', decimals: 0 },
      { title: 'out of order', decimals: 0 },
      { title: 'p50' },
      { title: 'p95' },
      { title: 'p99' },
      { title: 'max' },
      { title: 'peak MiB', decimals: 1 },
    ],
    rows,
  );
  console.log(
    `\nRunboard's server: ${runboard.idle?.rssMiB ?? '–'} MiB resident with the subscribers connected before the printing, ${runboard.memory?.rssMiB ?? '–'} MiB after, ` +
      `peak ${runboard.memory?.peakMiB ?? '–'} MiB (VmHWM). Load average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after.`,
  );

  const memory = (m: ProcessMemory | null) => m && { peakMiB: m.peakMiB, rssMiB: m.rssMiB };
  return {
    bench: 'live-output',
    rate,
    seconds,
    subscribers,
    cores: os.cpus().length,
    loadAverage: [loadBefore, loadAfter].map((l) => Math.round(l * 100) / 100),
    target: { p99Ms: TARGET_P99_MS, lost: 0, reordered: 0, stored: 'all' },
    pass: allPass(rows),
    runboard: {
      lateness: runboard.delivery.lateness,
      perSubscriber: readers,
      problems: runboard.delivery.problems,
      stored: { ...stored.tally, chunks: stored.chunks, runState: stored.state },
      serverMemory: { idle: memory(runboard.idle), after: memory(runboard.memory) },
    },
    floor: { lateness: floor.delivery.lateness, perReader: floorReaders, problems: floor.delivery.problems, peakMiB: floor.memory.peakMiB },
  };
}
