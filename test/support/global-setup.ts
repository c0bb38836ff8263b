/**
 * Chooses where the suite's databases come from, once per run:
 * - PostgreSQL at TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres): a
 *   template database is built from the migrations, and each test file clones it;
 * - the embedded database when that server cannot be reached, or TEST_DATABASE_URL=embedded: each
 *   test file starts on a fresh one. Tests that need several processes on one database are
 *   skipped then, each with its reason printed.
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrateToLatest } from '../../db/migrate';
import type { Database } from '../../db/schema';

export interface TestDatabaseInfo {
  mode: 'external' | 'embedded';
  /** Connection string of the server's maintenance database (external mode). */
  adminUrl?: string;
  /** Name of the template database to clone (external mode). */
  template?: string;
  /** Why the suite fell back to the embedded database. */
  reason?: string;
  /** Prefix of the clones of this run, so teardown can find what a crashed file left. */
  clonePrefix?: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    testDatabase: TestDatabaseInfo;
  }
}

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function reachable(url: string): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const adminUrl = process.env.TEST_DATABASE_URL || DEFAULT_URL;
  const problem = adminUrl === 'embedded' ? 'TEST_DATABASE_URL=embedded' : await reachable(adminUrl);
  if (problem) {
    const reason = `no PostgreSQL at ${adminUrl === 'embedded' ? 'TEST_DATABASE_URL' : adminUrl} (${problem})`;
    console.log(`\n[runboard tests] Using the embedded database: ${reason}.\n`);
    project.provide('testDatabase', { mode: 'embedded', reason });
    return async () => undefined;
  }

  const template = `runboard_test_template_${process.pid}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`drop database if exists ${template}`);
  await admin.query(`create database ${template}`);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: withDatabase(adminUrl, template), max: 1 }) }) });
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }
  console.log(`\n[runboard tests] Using PostgreSQL at ${adminUrl}; template database ${template}.\n`);
  project.provide('testDatabase', { mode: 'external', adminUrl, template, clonePrefix: `runboard_test_${process.pid}_` });

  return async () => {
    // Drop the template and any clone a crashed test file left behind.
    const { rows } = await admin.query<{ datname: string }>(
      `select datname from pg_database where datname = $1 or datname like $2`,
      [template, `runboard_test_${process.pid}_%`],
    );
    for (const { datname } of rows) await admin.query(`drop database if exists ${datname} with (force)`);
    await admin.end();
  };
}
