/**
 * Jobs, as ndscheduler has them: a schedule that runs a job class with arguments. The class is a
 * built-in job (or an ndscheduler alias of one, jobs/execution.ts) or any other string — then the
 * job gets a script of its own holding the class and arguments (`jobClass`, `jobArgs`), and the
 * schedule is marked `ownsScript`; an unknown class makes its runs fail before they start. Or the
 * class names one of Runboard's own scripts (by name or id): then the schedule runs that script,
 * which the job leaves alone. Either way a job is made, changed and deleted as one transaction,
 * so there is never a script without its schedule.
 */
import type { Db } from '../db/database';
import { findScheduleById, type Schedule } from '../db/schedule.repository';
import { findScriptByName, findScriptById, scheduleNamesOfScript, type Script } from '../db/script.repository';
import { inOneTransaction, type ChangeDeps } from './audit';
import { NotFoundError, ValidationError } from './errors';
import { builtinJobOf } from './job-class';
import { isUuid } from './ids';
import { createSchedule, deleteSchedule, updateSchedule, type ScheduleWhen } from './schedule.service';
import { createScript, deleteScript, updateScript } from './script.service';
import type { SecretBox } from './secrets';

export interface CreateJobInput {
  /** The job's name: its schedule's (and its own script's). */
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

/** The Runboard script a job class names (not a built-in job), if any. */
async function namedScript(db: Db, jobClass: string): Promise<Script | undefined> {
  const name = jobClass.trim();
  if (!name || builtinJobOf(name)) return undefined;
  return (isUuid(name) ? await findScriptById(db, name.toLowerCase()) : undefined) ?? (await findScriptByName(db, name));
}

const noArgs = (args: unknown) => args === undefined || args === null || (Array.isArray(args) && args.length === 0);

function refuse(field: string, message: string): never {
  throw new ValidationError(message, [{ path: ['input', field], message }]);
}

/** Creates the job's schedule, with a script of its own unless the class names a Runboard script. */
export async function createJob(deps: ChangeDeps, secrets: SecretBox, input: CreateJobInput): Promise<Schedule> {
  return inOneTransaction(deps, async (tx) => {
    const existing = await namedScript(tx.db, input.jobClass);
    if (existing) {
      if (!noArgs(input.jobArgs)) refuse('jobArgs', `Script "${existing.name}" takes no job arguments: give it parameters instead, or leave the arguments out.`);
      return createSchedule(tx, { name: input.name, scriptId: existing.id, when: input.when, enabled: input.enabled });
    }
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
 * Changes the fields given: the name (of the schedule, and of its own script), the class and
 * arguments (on its own script), the timing (on the schedule). A job's class cannot switch
 * between its own script and a Runboard script: make a new job for that.
 */
export async function updateJob(deps: ChangeDeps, secrets: SecretBox, input: UpdateJobInput): Promise<Schedule> {
  return inOneTransaction(deps, async (tx) => {
    const schedule = await findScheduleById(tx.db, input.id);
    if (!schedule) throw new NotFoundError(`There is no schedule with id "${input.id}".`);
    const named = input.jobClass === undefined ? undefined : await namedScript(tx.db, input.jobClass);
    if (schedule.ownsScript) {
      if (named) refuse('jobClass', `This job runs a class of its own; to run script "${named.name}", make a new job.`);
      if (input.jobClass !== undefined || input.jobArgs !== undefined || input.name !== undefined) {
        await updateScript(tx, secrets, schedule.scriptId, { name: input.name, jobClass: input.jobClass, jobArgs: input.jobArgs });
      }
    } else {
      if (input.jobClass !== undefined && named?.id !== schedule.scriptId) {
        refuse('jobClass', 'This job runs a Runboard script, which cannot change: make a new job for another class or script.');
      }
      if (!noArgs(input.jobArgs)) refuse('jobArgs', 'This job runs a Runboard script, which takes no job arguments: give it parameters instead.');
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
