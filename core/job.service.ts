/**
 * Jobs, as ndscheduler has them: a schedule together with a script of its own that holds the job
 * class and its arguments (`jobClass`, `jobArgs`), created, changed and deleted as one (one
 * transaction, so never a script without its schedule). The schedule is marked `ownsScript`; a
 * schedule of a script people made themselves is a job too, but one whose script it leaves alone.
 */
import { findScheduleById, type Schedule } from '../db/schedule.repository';
import { scheduleNamesOfScript } from '../db/script.repository';
import { inOneTransaction, type ChangeDeps } from './audit';
import { NotFoundError, ValidationError } from './errors';
import { createSchedule, deleteSchedule, updateSchedule, type ScheduleWhen } from './schedule.service';
import { createScript, deleteScript, updateScript } from './script.service';
import type { SecretBox } from './secrets';

export interface CreateJobInput {
  /** The job's name: its schedule's and its script's. */
  name: string;
  jobClass: string;
  /** A JSON list. Default []. */
  jobArgs?: unknown;
  when: ScheduleWhen;
  /** False to create it paused. Default true. */
  enabled?: boolean;
}

export interface UpdateJobInput {
  /** The schedule. */
  id: string;
  name?: string;
  jobClass?: string;
  jobArgs?: unknown;
  when?: ScheduleWhen;
}

/** Creates the script (named after the job) and its schedule. */
export async function createJob(deps: ChangeDeps, secrets: SecretBox, input: CreateJobInput): Promise<Schedule> {
  return inOneTransaction(deps, async (tx) => {
    const script = await createScript(tx, secrets, {
      name: input.name,
      description: 'The script of a job: its job class and arguments.',
      jobClass: input.jobClass,
      jobArgs: input.jobArgs ?? [],
    });
    return createSchedule(tx, { name: input.name, scriptId: script.id, when: input.when, enabled: input.enabled, ownsScript: true });
  });
}

/**
 * Changes the fields given: the name of both, the class and arguments on the script, the timing on
 * the schedule. A schedule of someone's own script can change its name and timing only.
 */
export async function updateJob(deps: ChangeDeps, secrets: SecretBox, input: UpdateJobInput): Promise<Schedule> {
  return inOneTransaction(deps, async (tx) => {
    const schedule = await findScheduleById(tx.db, input.id);
    if (!schedule) throw new NotFoundError(`There is no schedule with id "${input.id}".`);
    const scriptChanges = input.jobClass !== undefined || input.jobArgs !== undefined;
    if (scriptChanges && !schedule.ownsScript) {
      const message = 'This job runs a script of its own making elsewhere: change that script itself, or make a new job for another class.';
      throw new ValidationError(message, [{ path: ['input', input.jobClass !== undefined ? 'jobClass' : 'jobArgs'], message }]);
    }
    if (schedule.ownsScript && (scriptChanges || input.name !== undefined)) {
      await updateScript(tx, secrets, schedule.scriptId, { name: input.name, jobClass: input.jobClass, jobArgs: input.jobArgs });
    }
    // Always through the schedule, so the job's own history records the change.
    return updateSchedule(tx, { id: input.id, name: input.name, when: input.when });
  });
}

/** Deletes the schedule, and its script when the job made it and no other schedule uses it. */
export async function deleteJob(deps: ChangeDeps, id: string): Promise<Schedule> {
  return inOneTransaction(deps, async (tx) => {
    const schedule = await deleteSchedule(tx, id);
    if (schedule.ownsScript && (await scheduleNamesOfScript(tx.db, schedule.scriptId)).length === 0) {
      await deleteScript(tx, schedule.scriptId);
    }
    return schedule;
  });
}
