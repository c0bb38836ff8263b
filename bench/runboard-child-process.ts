/**
 * Runboard as the live-output bench runs it: `node --max-semi-space-size=32 --import tsx
 * server.ts` in a child process, configured by environment as an operator would, so the bench's
 * clients do not share the server's event loop and its memory can be read from /proc.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BENCH_ADMIN, BENCH_SECRET } from './runboard-in-process';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const READY_WAIT_MS = 60_000;
const STOP_WAIT_MS = 20_000;

export interface ChildRunboard {
  url: string;
  pid: number;
  /** Stops it with SIGTERM (SIGKILL when it has not exited in 20 s). */
  stop(): Promise<void>;
}

/** A port nothing listens on now (PORT=0 would not tell us which one the server got). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Starts the server on `databaseUrl` and resolves once it says it is running. */
export async function startChildRunboard(databaseUrl: string): Promise<ChildRunboard> {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'runboard-bench-'));
  const child = spawn(process.execPath, ['--max-semi-space-size=32', '--import', 'tsx', 'server.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      RUNBOARD_SECRET: BENCH_SECRET,
      PORT: String(port),
      HOST: '127.0.0.1',
      RUNBOARD_CONSOLE: 'false',
      RUNBOARD_ADMIN_USERNAME: BENCH_ADMIN.username,
      RUNBOARD_ADMIN_PASSWORD: BENCH_ADMIN.password,
      RUNBOARD_LOG_LEVEL: 'warn',
      RUNBOARD_DATA_DIR: dataDir,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // What it printed, for the message when it does not start; warnings are shown as they come.
  let printed = '';
  child.stdout!.setEncoding('utf8').on('data', (text: string) => (printed = (printed + text).slice(-4000)));
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    printed = (printed + text).slice(-4000);
    process.stderr.write(text.replace(/^(?=.)/gm, '  [server] '));
  });
  const cleanUp = () => fs.rmSync(dataDir, { recursive: true, force: true });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), STOP_WAIT_MS);
      await exited(child);
      clearTimeout(killer);
    }
    cleanUp();
  };

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`it did not say it was running within ${READY_WAIT_MS / 1000} s`)), READY_WAIT_MS);
    const onData = () => {
      const match = /Runboard is running at (\S+)/.exec(printed);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`it exited (${signal ?? `code ${code}`})`));
    });
  }).catch(async (error: Error) => {
    await stop();
    throw new Error(`Runboard did not start as a child process: ${error.message}. It printed:\n${printed.trim()}`, { cause: error });
  });
  return { url, pid: child.pid!, stop };
}
