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
  close(): Promise<void>;
}

export interface DatabaseOptions {
  databaseUrl: string | undefined;
  dataDir: string;
  /** Pool size for an external database. Default 10. */
  poolSize?: number;
  onPoolError?: (error: Error) => void;
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
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    pool,
    mode: embedded ? 'embedded' : 'external',
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
