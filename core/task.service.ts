/**
 * Tasks: what VirtShell calls the work its tools report (COMPAT.md "VirtShell"). A task is a
 * reported run (reporter `virtshell`) whose `external` object holds the task's own fields as the
 * tool sent them, plus those the server keeps: `created {at, by}`, `last_update` (Unix seconds,
 * as text, like the seed's examples) and `status_history` (`[status, time, log]` of each earlier
 * version). Its uuid is the run's id.
 *
 * The task's status is free text, echoed back as sent; the run's state follows it where it means
 * something: pending → queued, in progress → running, sucess (sic) / success → succeeded,
 * failed → failed (ignoring case). Any other status leaves the state as it was (running for a
 * new task): the tool is still reporting, so the task has not finished.
 */
import type { Run } from '../db/run.repository';
import type { RunState } from '../db/schema';
import type { ChangeDeps } from './audit';
import { NotFoundError, ValidationError } from './errors';
import { reportRun, updateReportedRun, NAME_MAX, SUMMARY_MAX, type Caller } from './run.service';

export const TASK_REPORTER = 'virtshell';

/** The fields the server keeps: what a client sends for them is ignored. */
const SERVER_FIELDS = ['uuid', 'created', 'last_update', 'status_history'];

/** How many earlier versions a task keeps (the oldest are dropped), so its fields stay within bounds. */
export const TASK_HISTORY_MAX = 100;

const STATE_OF_STATUS: Record<string, RunState> = {
  pending: 'queued',
  'in progress': 'running',
  sucess: 'succeeded',
  success: 'succeeded',
  failed: 'failed',
};

/** The statuses that mean a run state (the seed's, and `success`), in lower case. */
export const TASK_STATUSES: readonly string[] = Object.keys(STATE_OF_STATUS);

/** The run state a task status means, or `otherwise` for a status Runboard does not know. */
export function stateOfTaskStatus(status: unknown, otherwise: RunState): RunState {
  return (typeof status === 'string' && STATE_OF_STATUS[status.trim().toLowerCase()]) || otherwise;
}

/** Now, as the seed writes times: Unix seconds as text. */
const unixNow = () => String(Math.floor(Date.now() / 1000));

/** What a value is, in a sentence ("got an array"). */
function kindOf(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

function clientFields(fields: unknown, what: string): Record<string, unknown> {
  if (!fields || typeof fields !== 'object' || Array.isArray(fields)) {
    const message = `${what} must be a JSON object, e.g. {"description": "clone virtual machine database_01", "status": "pending"}; got ${kindOf(fields)}.`;
    throw new ValidationError(message, [{ path: ['input', 'fields'], message: `Not a JSON object: ${kindOf(fields)}.` }]);
  }
  const own = Object.entries(fields as Record<string, unknown>).filter(([key]) => !SERVER_FIELDS.includes(key));
  return Object.fromEntries(own);
}

/** The run's summary: the task's log line, when it has one. */
function summaryOf(log: unknown): string | null {
  return typeof log === 'string' && log.length > 0 ? log.slice(0, SUMMARY_MAX) : null;
}

/** What the run is called: the task's description, else its type, else "task". */
function nameOf(fields: Record<string, unknown>): string {
  for (const value of [fields.description, fields.type]) {
    if (typeof value === 'string' && value.trim()) return value.trim().slice(0, NAME_MAX);
  }
  return 'task';
}

/** Records a new task; `by` in `created` is the caller's user id (null for an anonymous check-in). */
export function reportTask(deps: ChangeDeps, caller: Caller, fields: unknown): Promise<Run> {
  const own = clientFields(fields, 'A task');
  const now = unixNow();
  return reportRun(deps, caller, {
    reporter: TASK_REPORTER,
    scriptName: nameOf(own),
    // A task's description names outside work, not a Runboard script that happens to share it.
    linkByName: false,
    state: stateOfTaskStatus(own.status, 'running'),
    summary: summaryOf(own.log),
    external: { ...own, created: { at: now, by: caller.userId }, last_update: now, status_history: [] },
  });
}

/**
 * Changes a task: the fields given replace those of the same name, the others stay; the previous
 * `[status, time, log]` joins `status_history`.
 */
export function updateTask(deps: ChangeDeps, id: string, fields: unknown): Promise<Run> {
  const own = clientFields(fields, 'A task update');
  return updateReportedRun(deps, { id }, (run) => {
    if (run.reporter !== TASK_REPORTER) throw new NotFoundError(`There is no task with id "${id}".`);
    const before = run.external;
    const history = Array.isArray(before.status_history) ? before.status_history : [];
    const previous = [before.status ?? null, before.last_update ?? null, before.log ?? null];
    return {
      external: { ...own, last_update: unixNow(), status_history: [...history, previous].slice(-TASK_HISTORY_MAX) },
      ...('status' in own && { state: stateOfTaskStatus(own.status, run.state) }),
      ...('log' in own && { summary: summaryOf(own.log) }),
    };
  });
}
