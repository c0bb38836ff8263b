/**
 * The agents benchmark: 1,000 agents (the real agent code, agent/agent.ts) connected from one
 * load process to Runboard's server (a process of its own, on the bench's PostgreSQL), over
 * loopback. The figures: every agent online; the server's CPU for their heartbeats; a run
 * fanned out to all 1,000 hosts (`startRun` on a group holding them): how long until each has
 * started (p50/p99, from the run being queued to its process starting on the agent) and until
 * all have finished.
 *
 * The floor beside it, measured in the same run: a bare `ws` server and as many bare `ws`
 * clients (bench/peers/ws-fleet.ts) doing the same — a heartbeat per client per period, a
 * message to every client and two answers from each — with no database and no GraphQL.
 *
 * Server CPU is read from /proc (user + system time of the server process) over a quiet window,
 * once before the agents connect and once with them all connected, so the difference is theirs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import WebSocket from 'ws';
import { generateHostKey } from '../core/host-key';
import { recreateDatabase } from './bench-database';
import { graphql, signIn } from './graphql-client';
import { printResults, type Row } from './results-table';
import { freePort, startChildRunboard } from './runboard-child-process';
import { BENCH_ADMIN } from './runboard-in-process';
import { round, summarize } from './samples';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, '..');
/** How often agents beat at the default RUNBOARD_HOST_TIMEOUT (60 s / 4), and so the floor's clients. */
const HEARTBEAT_MS = 15_000;
const TICKS_PER_SECOND = 100; // Linux USER_HZ: /proc/<pid>/stat counts CPU time in these

export interface AgentsOptions {
  agents: number;
  /** Seconds of each quiet window over which server CPU is measured. */
  windowSeconds: number;
  capSeconds: number;
  databaseUrl: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** CPU seconds (user + system) process `pid` has used so far; null when /proc cannot tell. */
function cpuSecondsOf(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return null;
  }
}

/** The share of one core process `pid` uses over `seconds` (1 = a whole core). */
async function coreShare(pid: number, seconds: number): Promise<number | null> {
  const before = cpuSecondsOf(pid);
  const began = performance.now();
  await sleep(seconds * 1000);
  const after = cpuSecondsOf(pid);
  if (before === null || after === null) return null;
  return (after - before) / ((performance.now() - began) / 1000);
}

async function until(what: string, check: () => Promise<boolean>, deadline: number, everyMs = 200): Promise<void> {
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await sleep(everyMs);
  }
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

interface RunboardFleet {
  online: number;
  connectSeconds: number;
  idleShare: number | null;
  fleetShare: number | null;
  started: number[];
  finished: number[];
  allStartedMs: number | null;
  allFinishedMs: number | null;
  states: Record<string, number>;
}

async function runboardFleet(options: AgentsOptions): Promise<RunboardFleet> {
  const { agents, databaseUrl } = options;
  const deadline = Date.now() + options.capSeconds * 1000;
  await recreateDatabase(databaseUrl);
  const server = await startChildRunboard(databaseUrl);
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool }) });
  const keysFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'runboard-fleet-keys-')), 'keys');
  let fleet: ChildProcess | undefined;
  try {
    // The hosts, their keys and a group of them all, by SQL: what createHost would store.
    const keys = Array.from({ length: agents }, () => generateHostKey());
    const hosts = await db
      .insertInto('hosts')
      .values(keys.map((key, i) => ({ name: `fleet-${String(i).padStart(4, '0')}`, kind: 'agent', agent_key_prefix: key.prefix, agent_key_hash: key.hash, agent_key_created_at: new Date() })))
      .returning('id')
      .execute();
    const group = await db.insertInto('groups').values({ name: 'bench fleet' }).returning('id').executeTakeFirstOrThrow();
    await db.insertInto('group_hosts').values(hosts.map((host) => ({ group_id: group.id, host_id: host.id }))).execute();
    const script = await db.insertInto('scripts').values({ name: 'bench fleet no-op', job_class: 'noop', job_args: '[]' }).returning('id').executeTakeFirstOrThrow();
    fs.writeFileSync(keysFile, keys.map((key) => key.token).join('\n'), { mode: 0o600 });

    const idleShare = await coreShare(server.pid, options.windowSeconds);

    const connectBegan = performance.now();
    fleet = spawn(process.execPath, ['--import', 'tsx', path.join(BENCH_DIR, 'agent-fleet.ts'), '--server', server.url, '--keys', keysFile, '--cap', String(options.capSeconds)], {
      cwd: ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    readline.createInterface({ input: fleet.stdout! }).on('line', () => undefined);
    const onlineNow = async () => Number((await sql<{ n: string }>`select count(*) as n from hosts where kind = 'agent' and online`.execute(db)).rows[0]!.n);
    await until(`${agents} agents to be online`, async () => (await onlineNow()) >= agents, deadline).catch(() => undefined);
    const connectSeconds = (performance.now() - connectBegan) / 1000;
    const online = await onlineNow();

    const fleetShare = await coreShare(server.pid, options.windowSeconds);

    // The fan-out: one startRun for the group, as an operator would.
    const session = await signIn(server.url, BENCH_ADMIN);
    const answer = await graphql<{ startRun: { __typename: string; message?: string } }>(
      server.url,
      session,
      'mutation($input: StartRunInput!) { startRun(input: $input) { __typename ... on Error { message } } }',
      { input: { scriptId: script.id, groupId: group.id } },
    );
    if (answer.startRun.__typename !== 'StartRunSuccess') throw new Error(`startRun refused: ${answer.startRun.message}`);
    const active = async () => Number((await sql<{ n: string }>`select count(*) as n from runs where state in ('queued', 'dispatched', 'running')`.execute(db)).rows[0]!.n);
    await until('the fanned-out runs to finish', async () => (await active()) === 0, deadline, 100).catch(() => undefined);
    const { rows } = await sql<{ started: number | null; finished: number | null; state: string }>`
      select extract(epoch from started_at - created_at)::float8 * 1000 as started,
             extract(epoch from finished_at - created_at)::float8 * 1000 as finished, state
      from runs`.execute(db);
    const started = rows.flatMap((r) => (r.started === null ? [] : [r.started]));
    const finished = rows.flatMap((r) => (r.finished === null ? [] : [r.finished]));
    const states: Record<string, number> = {};
    for (const row of rows) states[row.state] = (states[row.state] ?? 0) + 1;
    return {
      online,
      connectSeconds,
      idleShare,
      fleetShare,
      started,
      finished,
      allStartedMs: started.length === agents ? Math.max(...started) : null,
      allFinishedMs: finished.length === agents ? Math.max(...finished) : null,
      states,
    };
  } finally {
    if (fleet) {
      fleet.stdin!.end();
      const killer = setTimeout(() => fleet!.kill('SIGKILL'), 10_000);
      await exited(fleet);
      clearTimeout(killer);
    }
    await db.destroy();
    await server.stop();
    fs.rmSync(path.dirname(keysFile), { recursive: true, force: true });
  }
}

interface FloorFleet {
  online: number;
  connectSeconds: number;
  idleShare: number | null;
  fleetShare: number | null;
  started: number[];
  finished: number[];
}

async function floorFleet(options: AgentsOptions): Promise<FloorFleet> {
  const port = await freePort();
  const server = spawn(process.execPath, ['--import', 'tsx', path.join(BENCH_DIR, 'peers', 'ws-fleet.ts'), '--port', String(port)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const clients: WebSocket[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      readline.createInterface({ input: server.stdout! }).once('line', () => resolve());
      server.once('exit', () => reject(new Error('the ws floor server exited before listening')));
    });
    const idleShare = await coreShare(server.pid!, options.windowSeconds);
    const url = `ws://127.0.0.1:${port}`;
    const began = performance.now();
    let online = 0;
    for (let i = 0; i < options.agents; i++) {
      const client = new WebSocket(url);
      clients.push(client);
      client.on('open', () => {
        online++;
        const timer = setInterval(() => client.send('hb'), HEARTBEAT_MS);
        timers.push(timer);
      });
      client.on('message', (data) => {
        if (data.toString() === 'run') {
          client.send('started');
          client.send('finished');
        }
      });
      if (i % 50 === 49) await sleep(20);
    }
    await until('the floor clients to connect', async () => online >= options.agents, Date.now() + options.capSeconds * 1000, 20);
    const connectSeconds = (performance.now() - began) / 1000;
    const fleetShare = await coreShare(server.pid!, options.windowSeconds);
    const control = new WebSocket(url);
    await new Promise((resolve) => control.once('open', resolve));
    const result = await new Promise<{ startedMs: number[]; finishedMs: number[] }>((resolve) => {
      control.once('message', (data) => resolve(JSON.parse(data.toString())));
      control.send('go');
    });
    control.close();
    return { online, connectSeconds, idleShare, fleetShare, started: result.startedMs, finished: result.finishedMs };
  } finally {
    for (const timer of timers) clearInterval(timer);
    for (const client of clients) client.terminate();
    server.stdin!.end();
    await exited(server);
  }
}

const percent = (share: number | null) => (share === null ? null : round(share * 100));

export async function agentsBench(options: AgentsOptions): Promise<Record<string, unknown>> {
  console.log(
    `Agents benchmark: ${options.agents.toLocaleString('en')} agents from one load process, server CPU over ${options.windowSeconds} s windows ` +
      `(heartbeat every ${HEARTBEAT_MS / 1000} s), then one run fanned out to every host, on ${os.cpus().length} cores.`,
  );
  const loadBefore = os.loadavg()[0]!;
  const runboard = await runboardFleet(options);
  const floor = await floorFleet(options);
  const loadAfter = os.loadavg()[0]!;

  const rbStarted = summarize(runboard.started);
  const floorStarted = summarize(floor.started);
  const allOnline = runboard.online === options.agents;
  const allRan = (runboard.states.succeeded ?? 0) === options.agents;
  const heartbeatsPerSecond = options.agents / (HEARTBEAT_MS / 1000);
  const costPerHeartbeatMs = (f: { idleShare: number | null; fleetShare: number | null }) =>
    f.idleShare === null || f.fleetShare === null ? null : round(((f.fleetShare - f.idleShare) * 1000) / heartbeatsPerSecond);

  console.log('\nConnected, and server CPU (% of one core) idle and with the fleet connected:\n');
  printResults([{ title: 'online', decimals: 0 }, { title: 'connect s' }, { title: 'idle %' }, { title: 'fleet %' }, { title: 'ms CPU / heartbeat', decimals: 3 }], [
    { variant: 'Runboard: agents over graphql-ws', cells: [runboard.online, round(runboard.connectSeconds), percent(runboard.idleShare), percent(runboard.fleetShare), costPerHeartbeatMs(runboard)], target: `all ${options.agents} online`, pass: allOnline },
    { variant: 'floor: bare ws server and clients', cells: [floor.online, round(floor.connectSeconds), percent(floor.idleShare), percent(floor.fleetShare), costPerHeartbeatMs(floor)] },
  ]);
  console.log(`\nOne run fanned out to every host: ms from queued (floor: from the message) until each started and until all finished:\n`);
  const fanRow = (variant: string, started: ReturnType<typeof summarize>, all: number | null, finishedAll: number | null, extra: Partial<Row> = {}): Row => ({
    variant,
    cells: [started.samples, started.p50, started.p99, all, finishedAll],
    ...extra,
  });
  printResults([{ title: 'started', decimals: 0 }, { title: 'p50' }, { title: 'p99' }, { title: 'all started' }, { title: 'all finished' }], [
    fanRow('Runboard: no-op run on every agent', rbStarted, runboard.allStartedMs === null ? null : round(runboard.allStartedMs), runboard.allFinishedMs === null ? null : round(runboard.allFinishedMs), {
      target: `each of ${options.agents} runs once`,
      pass: allRan,
      note: JSON.stringify(runboard.states),
    }),
    fanRow('floor: a message to every client, two answers each', floorStarted, floorStarted.max, summarize(floor.finished).max),
  ]);
  console.log(`\nLoad average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after.`);

  return {
    bench: 'agents',
    agents: options.agents,
    cores: os.cpus().length,
    loadAverage: [loadBefore, loadAfter].map((l) => Math.round(l * 100) / 100),
    heartbeatSeconds: HEARTBEAT_MS / 1000,
    pass: allOnline && allRan,
    runboard: {
      online: runboard.online,
      connectSeconds: round(runboard.connectSeconds),
      serverCpuPercent: { idle: percent(runboard.idleShare), fleet: percent(runboard.fleetShare) },
      cpuMsPerHeartbeat: costPerHeartbeatMs(runboard),
      fanOut: { started: rbStarted, allStartedMs: runboard.allStartedMs && round(runboard.allStartedMs), allFinishedMs: runboard.allFinishedMs && round(runboard.allFinishedMs), states: runboard.states },
    },
    floor: {
      online: floor.online,
      connectSeconds: round(floor.connectSeconds),
      serverCpuPercent: { idle: percent(floor.idleShare), fleet: percent(floor.fleetShare) },
      cpuMsPerHeartbeat: costPerHeartbeatMs(floor),
      fanOut: { started: floorStarted, allFinishedMs: summarize(floor.finished).max },
    },
  };
}
