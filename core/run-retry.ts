/**
 * Retries: a run that failed, timed out or was lost is run again while its script allows
 * (`retryCount` more attempts), after `retryDelaySeconds × retryBackoff^(attempt − 1)`. A
 * cancelled run is never retried: someone meant it to stop.
 */
import type { NewRun, Run } from '../db/run.repository';
import type { Script } from '../db/script.repository';

const RETRIED_STATES = new Set(['failed', 'timed_out', 'lost']);
/** A backoff never waits longer than a day. */
const MAX_DELAY_SECONDS = 86_400;

export function retryDelaySeconds(script: Pick<Script, 'retryDelaySeconds' | 'retryBackoff'>, attempt: number): number {
  const factor = Math.max(1, script.retryBackoff) ** Math.max(0, attempt - 1);
  return Math.min(MAX_DELAY_SECONDS, script.retryDelaySeconds * factor);
}

/** The retry of `run`, or undefined when it is not to be retried. */
export function retryOf(run: Run, script: Pick<Script, 'retryCount' | 'retryDelaySeconds' | 'retryBackoff' | 'enabled'> | undefined, now = new Date()): NewRun | undefined {
  if (!script || !script.enabled || !RETRIED_STATES.has(run.state) || run.attempt > script.retryCount) return undefined;
  if (run.trigger === 'report') return undefined;
  return {
    scriptId: run.scriptId,
    scriptName: run.scriptName,
    hostId: run.hostId,
    hostName: run.hostName,
    scheduleId: run.scheduleId,
    occurrenceId: run.occurrenceId,
    checkId: run.checkId,
    retryOf: run.id,
    attempt: run.attempt + 1,
    trigger: 'retry',
    triggeredByUserId: run.triggeredByUserId,
    triggeredBy: run.triggeredBy,
    parameters: run.parameters,
    scheduledFor: run.scheduledFor,
    notBefore: new Date(now.getTime() + retryDelaySeconds(script, run.attempt) * 1000),
  };
}
