/**
 * `npm run bench -- <name> [options]`: runs one benchmark against a real PostgreSQL, prints its
 * figures beside the peers it is compared with, and ends with one line of JSON holding them.
 *
 *   npm run bench -- history [--runs 1000000] [--requests 1000] [--reuse]
 *                            [--database-url postgres://postgres@127.0.0.1:5432/runboard_bench]
 */
import { parseArgs } from 'node:util';
import { historyBench } from './history';

const BENCHES: Record<string, (flags: Flags) => Promise<Record<string, unknown>>> = {
  history: (flags) =>
    historyBench({
      runs: count(flags.runs, 'runs', 1_000_000),
      requests: count(flags.requests, 'requests', 1_000),
      reuse: flags.reuse,
      databaseUrl: flags['database-url'],
    }),
};

type Flags = { runs?: string; requests?: string; reuse: boolean; 'database-url': string };

function count(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${name} must be a positive whole number, not "${value}".`);
  return parsed;
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      runs: { type: 'string' },
      requests: { type: 'string' },
      reuse: { type: 'boolean', default: false },
      'database-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/runboard_bench' },
    },
  });
  const name = positionals[0];
  const bench = name ? BENCHES[name] : undefined;
  if (!bench) {
    console.error(`Usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [options]${name ? ` (no benchmark named "${name}")` : ''}`);
    process.exit(2);
  }
  const figures = await bench(values);
  console.log(JSON.stringify(figures));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(1);
  },
);
