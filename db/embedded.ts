/**
 * The embedded database: PGlite (PostgreSQL compiled to WebAssembly) with its files in the data
 * dir, served in-process over a private Unix socket so that `pg`, Kysely and Agenda talk to it
 * exactly as they talk to a real server.
 *
 * Only one process may open a data dir: PGlite has no locking of its own and two writers would
 * corrupt it. A lock file holding the owner's pid guards it.
 */
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { keepMessageSequencesTogether } from './embedded-queue';
import type { PoolConfig } from 'pg';

/** Connections the socket multiplexes onto the single PGlite instance. */
export const EMBEDDED_MAX_CONNECTIONS = 8;

export class DataDirInUseError extends Error {
  constructor(dataDir: string, pid: number) {
    super(
      `The embedded database in ${dataDir} is in use by another Runboard process (pid ${pid}). ` +
        'Stop that process first, or point both at one PostgreSQL server with DATABASE_URL.',
    );
    this.name = 'DataDirInUseError';
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the data dir's lock file, or throws DataDirInUseError. Returns its release function. */
function lockDataDir(dataDir: string): () => void {
  const lockPath = path.join(dataDir, 'runboard.lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.writeFileSync(lockPath, String(process.pid), { flag: 'wx', mode: 0o600 });
      return () => fs.rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(fs.readFileSync(lockPath, 'utf8').trim());
      // A lock held by this very process is a second start() on the same dir: refuse it too.
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) throw new DataDirInUseError(dataDir, pid);
      fs.rmSync(lockPath, { force: true }); // left by a process that died; take it over
    }
  }
  throw new Error(`Could not take the lock file ${lockPath}; remove it if no Runboard process is running.`);
}

export interface EmbeddedDatabase {
  /** Connection settings for `pg`. */
  poolConfig: PoolConfig;
  stop(): Promise<void>;
}

/** Opens (creating if needed) the embedded database in `dataDir` and serves it on a socket. */
export async function startEmbeddedDatabase(dataDir: string): Promise<EmbeddedDatabase> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const unlock = lockDataDir(dataDir);
  try {
    const pglite = await PGlite.create(path.join(dataDir, 'pgdata'));
    // Unix socket paths are limited to ~107 bytes; use a private temp dir when the data dir is deep.
    let socketDir = path.join(dataDir, 'socket');
    let ownSocketDir = false;
    if (socketDir.length + 20 > 100) {
      socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'runboard-'));
      ownSocketDir = true;
    }
    fs.mkdirSync(socketDir, { recursive: true, mode: 0o700 });
    fs.chmodSync(socketDir, 0o700);
    const socketPath = path.join(socketDir, '.s.PGSQL.5432');
    fs.rmSync(socketPath, { force: true }); // a stale socket from a process that died
    const server = new PGLiteSocketServer({ db: pglite, path: socketPath, maxConnections: EMBEDDED_MAX_CONNECTIONS });
    keepMessageSequencesTogether(server);
    await server.start();
    return {
      poolConfig: { host: socketDir, port: 5432, user: 'postgres', database: 'postgres', max: EMBEDDED_MAX_CONNECTIONS },
      async stop() {
        await server.stop();
        await pglite.close();
        if (ownSocketDir) fs.rmSync(socketDir, { recursive: true, force: true });
        else fs.rmSync(socketPath, { force: true });
        unlock();
      },
    };
  } catch (error) {
    unlock();
    throw error;
  }
}
