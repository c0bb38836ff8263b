/** `npm run db:migrate`: brings the database (DATABASE_URL, or the embedded one) up to date. */
import { ConfigError, loadConfig } from '../core/config';
import { checkConnection, openDatabase } from './database';
import { migrateToLatest } from './migrate';

async function main(): Promise<void> {
  const config = loadConfig();
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    await checkConnection(database.db, database.mode === 'embedded' ? `the embedded database in ${config.dataDir}` : 'DATABASE_URL');
    const applied = await migrateToLatest(database.db);
    console.log(applied.length ? `Applied: ${applied.join(', ')}` : 'The database is up to date.');
  } finally {
    await database.close();
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : `Migration failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(error instanceof ConfigError ? 2 : 1);
});
