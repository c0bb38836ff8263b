/**
 * Command channel: runs a program with its arguments — no shell, so nothing in an alert can be
 * read as shell syntax — with the alert as JSON on stdin and as RUNBOARD_ALERT_* variables. It
 * has `timeoutMs` to exit 0; after that its whole process group is killed and the attempt fails.
 */
import { spawn } from 'node:child_process';
import type { CommandSettings } from '../../db/notification-channel.repository';
import { DeliveryError } from './delivery-error';

/** The server variables a command may need to work at all; never Runboard's own settings. */
const PASSED = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];
const STDERR_KEPT = 2000;

function environment(payload: Record<string, unknown>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PASSED) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  env.PATH ??= '/usr/local/bin:/usr/bin:/bin';
  const subject = payload.subject as { type?: string; id?: string; name?: string } | null;
  const event = payload.event as { id?: string; action?: string } | null;
  const rule = payload.rule as { name?: string } | null;
  Object.assign(env, {
    RUNBOARD_ALERT_KIND: String(payload.kind ?? ''),
    RUNBOARD_ALERT_TEXT: String(payload.text ?? ''),
    RUNBOARD_ALERT_RULE: rule?.name ?? '',
    RUNBOARD_ALERT_SUBJECT_TYPE: subject?.type ?? '',
    RUNBOARD_ALERT_SUBJECT_ID: subject?.id ?? '',
    RUNBOARD_ALERT_SUBJECT: subject?.name ?? '',
    RUNBOARD_ALERT_EVENT_ID: event?.id ?? '',
    RUNBOARD_ALERT_EVENT_ACTION: event?.action ?? '',
  });
  return env;
}

export function runCommand(settings: CommandSettings, payload: Record<string, unknown>, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(settings.executable, settings.args, { env: environment(payload) as NodeJS.ProcessEnv, stdio: ['pipe', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    let timedOut = false;
    const kill = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    child.stderr!.on('data', (chunk: Buffer) => {
      if (stderr.length < STDERR_KEPT) stderr += chunk.toString('utf8');
    });
    // A command that does not read its stdin is not an error.
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(JSON.stringify(payload));
    child.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const why = error.code === 'ENOENT' ? 'there is no such program' : error.code === 'EACCES' ? 'it is not executable' : error.message;
      reject(new DeliveryError(`The command ${settings.executable} could not start: ${why}.`, { cause: error }));
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      // Whatever it left running in its group goes with it.
      kill();
      const tail = stderr.trim().slice(0, STDERR_KEPT);
      if (timedOut) reject(new DeliveryError(`The command ${settings.executable} did not finish within ${timeoutMs} ms and was killed.`));
      else if (code === 0) resolve();
      else reject(new DeliveryError(`The command ${settings.executable} ${code === null ? `was killed by ${signal}` : `exited with ${code}`}${tail ? `: ${tail}` : ''}.`));
    });
  });
}
