/**
 * `npm run bench -- <name> [options]`: runs one benchmark against a real PostgreSQL, prints its
 * figures beside the peers it is compared with, and ends with one line of JSON holding them.
 *
 *   npm run bench -- history       [--runs 1000000] [--requests 1000] [--reuse]
 *   npm run bench -- start-latency [--samples 1000] [--cap 120]
 *   npm run bench -- drain         [--runs 10000] [--cap 120]
 *   npm run bench -- burst         [--schedules 10000] [--cap 120]
 *   npm run bench -- live-output   [--rate 20000] [--seconds 10] [--subscribers 10] [--cap 120]
 *   npm run bench -- checks        [--checks 10000] [--cap 120]
 *   npm run bench -- agents        [--agents 1000] [--window 30] [--cap 300]
 *   npm run bench -- checkin       [--connections 100] [--seconds 10] [--scripts 1000]
 *
 *   --database-url  default postgres://postgres@127.0.0.1:5432/runboard_bench_<name> (dropped and
 *                   created afresh; history keeps runboard_bench, reusable with --reuse)
 *   --cap           seconds each measured variant (Runboard's or a peer's) may take at most
 *
 * The peers (Agenda, graphile-worker) live in bench/package.json, not the app's: the first run
 * installs them with `npm ci --prefix bench`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchDatabaseUrl } from './bench-database';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const PEERS = ['agenda', '@agendajs/postgres-backend', 'graphile-worker', 'autocannon'];

type Flags = {
  runs?: string;
  requests?: string;
  samples?: string;
  schedules?: string;
  rate?: string;
  seconds?: string;
  subscribers?: string;
  checks?: string;
  agents?: string;
  window?: string;
  connections?: string;
  scripts?: string;
  cap?: string;
  reuse: boolean;
  'database-url'?: string;
};

// Each bench is imported only when it runs: the execution benches import the peers, which may
// not be installed yet.
const BENCHES: Record<string, (flags: Flags, databaseUrl: string) => Promise<Record<string, unknown>>> = {
  history: async (flags, databaseUrl) =>
    (await import('./history')).historyBench({
      runs: count(flags.runs, 'runs', 1_000_000),
      requests: count(flags.requests, 'requests', 1_000),
      reuse: flags.reuse,
      databaseUrl,
    }),
  'start-latency': async (flags, databaseUrl) =>
    (await import('./start-latency')).startLatencyBench({
      samples: count(flags.samples, 'samples', 1_000),
      capSeconds: count(flags.cap, 'cap', 120),
      databaseUrl,
    }),
  drain: async (flags, databaseUrl) =>
    (await import('./drain')).drainBench({
      runs: count(flags.runs, 'runs', 10_000),
      capSeconds: count(flags.cap, 'cap', 120),
      databaseUrl,
    }),
  burst: async (flags, databaseUrl) =>
    (await import('./burst')).burstBench({
      schedules: count(flags.schedules, 'schedules', 10_000),
      capSeconds: count(flags.cap, 'cap', 120),
      databaseUrl,
    }),
  agents: async (flags, databaseUrl) =>
    (await import('./agents')).agentsBench({
      agents: count(flags.agents, 'agents', 1_000),
      windowSeconds: count(flags.window, 'window', 30),
      capSeconds: count(flags.cap, 'cap', 300),
      databaseUrl,
    }),
  'live-output': async (flags, databaseUrl) =>
    (await import('./live-output')).liveOutputBench({
      rate: count(flags.rate, 'rate', 20_000),
      seconds: count(flags.seconds, 'seconds', 10),
      subscribers: count(flags.subscribers, 'subscribers', 10),
      capSeconds: count(flags.cap, 'cap', 120),
      databaseUrl,
    }),
  checkin: async (flags, databaseUrl) =>
    (await import('./checkin')).checkinBench({
      connections: count(flags.connections, 'connections', 100),
      seconds: count(flags.seconds, 'seconds', 10),
      scripts: count(flags.scripts, 'scripts', 1_000),
      databaseUrl,
    }),
  checks: async (flags, databaseUrl) =>
    (await import('./checks')).checksBench({
      checks: count(flags.checks, 'checks', 10_000),
      capSeconds: count(flags.cap, 'cap', 120),
      databaseUrl,
    }),
};

function count(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${name} must be a positive whole number, not "${value}".`);
  return parsed;
}

/** Installs the peers from bench/package-lock.json when any is missing (a fresh clone). */
function ensurePeers(): void {
  const missing = PEERS.filter((name) => !fs.existsSync(path.join(BENCH_DIR, 'node_modules', name, 'package.json')));
  if (missing.length === 0) return;
  console.log(`The benchmark peers are not installed (${missing.join(', ')}): installing them with npm ci --prefix bench…`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(npm, ['ci', '--prefix', BENCH_DIR, '--no-audit', '--no-fund'], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.error) throw new Error(`Could not run npm to install the benchmark peers: ${result.error.message}`, { cause: result.error });
  if (result.status !== 0) throw new Error(`npm ci --prefix bench failed (exit ${result.status}); see its output above.`);
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      runs: { type: 'string' },
      requests: { type: 'string' },
      samples: { type: 'string' },
      schedules: { type: 'string' },
      rate: { type: 'string' },
      seconds: { type: 'string' },
      subscribers: { type: 'string' },
      checks: { type: 'string' },
      agents: { type: 'string' },
      window: { type: 'string' },
      connections: { type: 'string' },
      scripts: { type: 'string' },
      cap: { type: 'string' },
      reuse: { type: 'boolean', default: false },
      'database-url': { type: 'string' },
    },
  });
  const name = positionals[0];
  const bench = name ? BENCHES[name] : undefined;
  if (!name || !bench) {
    console.error(`Usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [options]${name ? ` (no benchmark named "${name}")` : ''}`);
    process.exit(2);
  }
  if (name !== 'history') ensurePeers();
  const databaseUrl = values['database-url'] ?? (name === 'history' ? 'postgres://postgres@127.0.0.1:5432/runboard_bench' : benchDatabaseUrl(name));
  const figures = await bench(values, databaseUrl);
  console.log(JSON.stringify(figures));
}

// A library failing in the background (a peer's pool refused by a busy server) is reported, not
// fatal: every wait in a bench has a time cap, so the bench still ends, with that row short.
process.on('unhandledRejection', (reason) => {
  console.error(`A background task failed: ${reason instanceof Error ? reason.message : String(reason)}`);
});

main().then(
  // Every bench stops what it started; exiting here also covers a library's stray timer.
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
