/**
 * Jobs (ndscheduler's word): a schedule with a script of its own holding a job class and its
 * arguments, made, changed and deleted as one (core/job.service.ts). Reads go through Schedule
 * (`ownsScript`, `script { jobClass jobArgs }`).
 */
import { ConflictError, NotFoundError, ValidationError } from '../core/errors';
import { createJob, deleteJob, updateJob } from '../core/job.service';
import { builder } from './builder';
import { changeDeps } from './change';
import { decodeId, encodeGlobalID } from './ids';
import { publishSchedule, ScheduleRef, when, WhenInput } from './schedule';

const CreateJobInput = builder.inputType('CreateJobInput', {
  description: 'A new job: a script named after it that runs the job class with its arguments, and the schedule that runs it.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'The name of both the schedule and its script: unique among each, 1–140 characters.' }),
    jobClass: t.string({
      required: true,
      description: 'The runner: a built-in job (command, http, noop) or an ndscheduler job class (e.g. simple_scheduler.jobs.shell_job.ShellJob). An unknown one makes every run fail before it starts.',
    }),
    jobArgs: t.field({ type: 'JSON', description: 'Its positional arguments, a JSON list (at most 64 KiB). Default [].' }),
    when: t.field({ type: WhenInput, required: true, description: 'When it fires.' }),
    enabled: t.boolean({ description: 'False to create it paused. Default true.' }),
  }),
});

const UpdateJobInput = builder.inputType('UpdateJobInput', {
  description: 'Changes to a job; only the fields given change. A schedule that does not own its script can change only its name and timing.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The job: its schedule.' }),
    name: t.string({ description: 'The new name of the schedule (and of its own script).' }),
    jobClass: t.string({ description: 'The new runner.' }),
    jobArgs: t.field({ type: 'JSON', description: 'The new arguments, a JSON list.' }),
    when: t.field({ type: WhenInput, description: 'When it fires; replaces the timing as a whole. A paused job stays paused.' }),
  }),
});

builder.mutationFields((t) => ({
  createJob: t.withAuth({ role: 'admin' }).field({
    type: ScheduleRef,
    description: 'Creates a job: a script of its own and its schedule, together or not at all. Admins only.',
    errors: { types: [ValidationError, NotFoundError, ConflictError] },
    args: { input: t.arg({ type: CreateJobInput, required: true, description: 'The new job.' }) },
    resolve: async (_root, { input }, ctx) => {
      const schedule = await createJob(changeDeps(ctx), ctx.app.secrets, {
        name: input.name,
        jobClass: input.jobClass,
        jobArgs: input.jobArgs ?? undefined,
        when: when(input.when),
        enabled: input.enabled ?? undefined,
      });
      publishSchedule(ctx, schedule.id, { created: true });
      return schedule;
    },
  }),
  updateJob: t.withAuth({ role: 'admin' }).field({
    type: ScheduleRef,
    description: 'Changes a job: its name (schedule and own script), class and arguments (own script), timing (schedule), in one transaction. Admins only.',
    errors: { types: [ValidationError, NotFoundError, ConflictError] },
    args: { input: t.arg({ type: UpdateJobInput, required: true, description: 'The job and its changes.' }) },
    resolve: async (_root, { input }, ctx) => {
      const schedule = await updateJob(changeDeps(ctx), ctx.app.secrets, {
        id: decodeId('Schedule', input.id, 'input.id'),
        name: input.name ?? undefined,
        jobClass: input.jobClass ?? undefined,
        jobArgs: input.jobArgs ?? undefined,
        when: input.when ? when(input.when) : undefined,
      });
      publishSchedule(ctx, schedule.id);
      return schedule;
    },
  }),
  deleteJob: t.withAuth({ role: 'admin' }).field({
    type: 'ID',
    description: 'Deletes a job: its schedule, and the script it owns when no other schedule uses it. Returns the schedule\'s id. Its runs stay. Admins only.',
    errors: { types: [ValidationError, NotFoundError] },
    args: { id: t.arg.id({ required: true, description: 'The job: its schedule.' }) },
    resolve: async (_root, { id }, ctx) => {
      const schedule = await deleteJob(changeDeps(ctx), decodeId('Schedule', id));
      publishSchedule(ctx, schedule.id, { deleted: true });
      return encodeGlobalID('Schedule', schedule.id);
    },
  }),
}));
