/**
 * The audit events Runboard writes as runs move (written by the same statement as the move, see
 * `moveRuns`): `run.running` when a run begins, `run.finished` when it ends — however it ends,
 * and whoever ends it (the dispatcher, or the recovery of a silent instance's runs). Alerting reads
 * `run.finished` (details: state, host, exit code).
 */
import type { Run } from '../db/run.repository';
import type { RunState } from '../db/schema';

export interface RunEvent {
  action: string;
  summary: string;
}

const FINISHED_VERB: Partial<Record<RunState, string>> = {
  succeeded: 'succeeded',
  failed: 'failed',
  timed_out: 'timed out',
  cancelled: 'was cancelled',
  lost: 'was lost',
};

export function runningEvent(run: Run): RunEvent {
  return { action: 'run.running', summary: `"${run.scriptName}" began running on "${run.hostName ?? 'unknown'}"` };
}

export function finishedEvent(run: Run, state: RunState, summary: string): RunEvent {
  return { action: 'run.finished', summary: `"${run.scriptName}" on "${run.hostName ?? 'unknown'}" ${FINISHED_VERB[state] ?? state} (${summary})` };
}
