/**
 * The database a benchmark runs on: one per bench (`runboard_bench_<name>`), dropped and created
 * afresh at the start of every run, so each run starts from the same empty state and a run that
 * was interrupted leaves nothing that skews the next one.
 */
import pg from 'pg';

/** The default URL of a bench's database; `name` is the bench's name (`start-latency`, …). */
export function benchDatabaseUrl(name: string): string {
  return `postgres://postgres@127.0.0.1:5432/runboard_bench_${name.replace(/-/g, '_')}`;
}

/** The database name in `url`, refused unless it is a plain identifier (it is put into DDL). */
function databaseName(url: URL): string {
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) {
    throw new Error(`The bench database name "${name}" must be a plain lowercase identifier (letters, digits, underscores); change --database-url.`);
  }
  if (name === 'postgres' || name.startsWith('template')) {
    throw new Error(`The bench drops and recreates its database; refusing to do that to "${name}". Give a database of its own in --database-url.`);
  }
  return name;
}

/** Drops the database in `databaseUrl` if it exists and creates it empty. */
export async function recreateDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = databaseName(url);
  const adminUrl = new URL(url);
  adminUrl.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: adminUrl.toString(), connectionTimeoutMillis: 10_000 });
  try {
    await admin.connect();
  } catch (error) {
    throw new Error(`The bench could not reach PostgreSQL at ${url.host} (from --database-url); is it running and does it accept user "${url.username}"?`, { cause: error });
  }
  try {
    // WITH (FORCE) ends sessions a crashed earlier run may have left open (PostgreSQL 13+).
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.query(`create database ${name}`);
  } catch (error) {
    throw new Error(`The bench could not recreate database "${name}": ${(error as Error).message}`, { cause: error });
  } finally {
    await admin.end();
  }
}
