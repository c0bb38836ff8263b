/**
 * Opens Runboard's database: PostgreSQL at DATABASE_URL, or the embedded one in the data dir.
 * Everything above this file sees one Kysely instance and one `pg` pool either way.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { startEmbeddedDatabase } from './embedded';
import type { Database } from './schema';

export type Db = Kysely<Database>;

export interface OpenDatabase {
  db: Db;
  pool: pg.Pool;
  /** `external` (DATABASE_URL) or `embedded` (PGlite). */
  mode: 'external' | 'embedded';
  /** SQL statements sent so far; the same figure as `statementCount(db)`. */
  statements(): number;
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl: string | undefined;
  dataDir: string;
  /** Pool size for an external database. Default 10. */
  poolSize?: number;
  onPoolError?: (error: Error) => void;
}

/**
 * How many SQL statements each database has sent (failed ones and transaction begin/commit
 * included): the bench and the statement-count test read it around a request to show that
 * DataLoader batches. Kysely's log hook runs once per statement and only increments, so it stays
 * on; a Transaction shares its parent's count, so read it from the root `db`.
 */
const statementCounters = new WeakMap<Db, { n: number }>();

export function statementCount(db: Db): number {
  return statementCounters.get(db)?.n ?? 0;
}

export async function openDatabase(options: DatabaseOptions): Promise<OpenDatabase> {
  const embedded = options.databaseUrl ? undefined : await startEmbeddedDatabase(options.dataDir);
  const pool = new pg.Pool(
    embedded
      ? embedded.poolConfig
      : { connectionString: options.databaseUrl, max: options.poolSize ?? 10, connectionTimeoutMillis: 10_000 },
  );
  // An idle client losing its connection must not crash the process.
  pool.on('error', (error) => options.onPoolError?.(error));
  const counter = { n: 0 };
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: () => void counter.n++ });
  statementCounters.set(db, counter);
  return {
    db,
    pool,
    mode: embedded ? 'embedded' : 'external',
    statements: () => counter.n,
    async close() {
      await db.destroy(); // ends the pool
      await embedded?.stop();
    },
  };
}

/** Connects once and explains a failure in words (bad URL, server down, wrong database). */
export async function checkConnection(db: Db, where: string): Promise<void> {
  try {
    await db.selectNoFrom((eb) => eb.val(1).as('ok')).execute();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`Cannot reach the database at ${where}: ${reason}`, { cause: error });
  }
}
