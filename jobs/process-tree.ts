/**
 * Runs one program in its own process group and stops the whole tree, never just the top process.
 *
 * - The program is spawned detached (a new session and process group whose id is its pid), with
 *   exactly the environment given (nothing from the server's own) and no stdin.
 * - Timeout or cancel: SIGTERM to the group, then SIGKILL to the group after the grace period.
 * - When the main process exits, whatever is left in its group is killed at once (SIGKILL): a
 *   forgotten `sleep &` must not linger or hold the output pipes open. A script that means to
 *   leave a daemon behind must start it in a session of its own (`setsid mydaemon >log 2>&1 &`)
 *   and not exit in the same instant (setsid must have run before the group is killed); a daemon
 *   that keeps our pipes open gets a short drain and is then cut off.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { OutputCapture } from './output-capture';

export interface Invocation {
  program: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  uid?: number;
  gid?: number;
}

export type StopReason = 'timeout' | 'cancel';

export interface ProcessEnd {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the program could not be started (ENOENT, EACCES, …); nothing ran then. */
  spawnError: NodeJS.ErrnoException | null;
  /** Set when we stopped it; its exit status is then only what our signals caused. */
  stoppedBy: StopReason | null;
}

export interface RunInGroupOptions {
  capture: OutputCapture;
  /** When the time is up (epoch ms); null: no limit. */
  deadline: number | null;
  /** Aborted: stop the tree (reason `cancel`). */
  signal: AbortSignal;
  /** Between SIGTERM and SIGKILL. */
  killGraceMs: number;
  /** Called once the program runs; it must not throw. */
  onSpawn?: (pid: number) => void;
}

/** After the main process exits, how long (while we are not waiting on the sink) pipes may stay open. */
const STDIO_DRAIN_MS = 2000;
const DRAIN_TICK_MS = 100;
/** setTimeout's largest delay; longer timeouts are waited for in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Sends a signal to a whole process group; a group that is already gone is fine. */
export function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ESRCH: nobody left. EPERM: only members we may not signal (a setuid program) are left.
    if (code !== 'ESRCH' && code !== 'EPERM') throw new Error(`Could not send ${signal} to process group ${pgid}.`, { cause: error });
  }
}

/**
 * Who a run's processes run as. Root switches to any uid/gid (a uid without a gid gets that
 * user's primary group, not root's); anyone else can only run as themselves.
 */
export function resolveRunAs(runAsUid: number | null, runAsGid: number | null): { uid?: number; gid?: number } | { error: string } {
  const uid = process.getuid?.();
  const gid = process.getgid?.();
  if (uid === 0) {
    if (runAsUid === null) return runAsGid === null ? {} : { gid: runAsGid };
    return { uid: runAsUid, gid: runAsGid ?? primaryGroupOf(runAsUid) };
  }
  if (runAsUid !== null && runAsUid !== uid) {
    return { error: `cannot run as uid ${runAsUid}: Runboard runs as uid ${uid ?? 'unknown'}, and only root can switch users` };
  }
  if (runAsGid !== null && runAsGid !== gid) {
    return { error: `cannot run as gid ${runAsGid}: Runboard runs as gid ${gid ?? 'unknown'}, and only root can switch groups` };
  }
  return {};
}

/** The user's group from /etc/passwd; a user it does not list gets the group with its own number. */
function primaryGroupOf(uid: number): number {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const fields = line.split(':');
      if (fields[2] === String(uid) && fields[3] !== undefined && /^\d+$/.test(fields[3])) return Number(fields[3]);
    }
  } catch {
    // No readable passwd file: fall through.
  }
  return uid;
}

/** Runs a program to its end, its output into the capture; never rejects for what the program does. */
export function runInGroup(invocation: Invocation, options: RunInGroupOptions): Promise<ProcessEnd> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      child = spawn(invocation.program, invocation.args, {
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: invocation.env as NodeJS.ProcessEnv, // Next's types insist on NODE_ENV; a run's env need not have it
        cwd: invocation.cwd,
        uid: invocation.uid,
        gid: invocation.gid,
      });
    } catch (error) {
      resolve({ exitCode: null, signal: null, spawnError: error as NodeJS.ErrnoException, stoppedBy: null });
      return;
    }
    const pid = child.pid;
    if (pid === undefined) {
      // Spawning failed; the reason arrives as an 'error' event.
      child.once('error', (error) => resolve({ exitCode: null, signal: null, spawnError: error, stoppedBy: null }));
      child.stdout?.destroy();
      child.stderr?.destroy();
      return;
    }
    child.on('error', () => undefined); // only kill/send report here, and we use neither
    const stdio = Promise.all([options.capture.attach(child.stdout!, 'stdout'), options.capture.attach(child.stderr!, 'stderr')]);

    let exited = false;
    let stoppedBy: StopReason | null = null;
    let graceTimer: NodeJS.Timeout | undefined;
    let deadlineTimer: NodeJS.Timeout | undefined;
    const stop = (reason: StopReason) => {
      if (exited || stoppedBy) return;
      stoppedBy = reason;
      killGroup(pid, 'SIGTERM');
      graceTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), options.killGraceMs);
    };
    const onAbort = () => stop('cancel');
    const deadline = options.deadline;
    const armDeadline = () => {
      if (deadline === null) return;
      const left = deadline - Date.now();
      if (left <= 0) stop('timeout');
      else deadlineTimer = setTimeout(armDeadline, Math.min(left, MAX_TIMER_MS));
    };

    child.once('exit', (exitCode, signal) => {
      exited = true;
      clearTimeout(graceTimer);
      clearTimeout(deadlineTimer);
      options.signal.removeEventListener('abort', onAbort);
      killGroup(pid, 'SIGKILL'); // whatever the main process left behind
      void drainStdio(child, stdio, options.capture).then(() => resolve({ exitCode, signal, spawnError: null, stoppedBy }));
    });

    if (options.signal.aborted) stop('cancel');
    else options.signal.addEventListener('abort', onAbort, { once: true });
    armDeadline();
    options.onSpawn?.(pid);
  });
}

/**
 * Waits for the pipes to close. Only something outside the group (a daemon started with setsid
 * that kept our stdout) can hold them now, so after STDIO_DRAIN_MS of reading (time spent
 * waiting on a slow sink does not count) they are closed from our side.
 */
function drainStdio(child: ChildProcess, closed: Promise<unknown>, capture: OutputCapture): Promise<void> {
  return new Promise((resolve) => {
    let budget = STDIO_DRAIN_MS;
    const tick = setInterval(() => {
      if (!capture.paused) budget -= DRAIN_TICK_MS;
      if (budget <= 0) {
        child.stdout?.destroy();
        child.stderr?.destroy();
      }
    }, DRAIN_TICK_MS);
    void closed.then(() => {
      clearInterval(tick);
      resolve();
    });
  });
}
