/**
 * Tasks (VirtShell's reported work) in GraphQL: reporting and updating them. They are runs
 * (`reporter: "virtshell"`): read them with `runs(filter: { reporter: "virtshell" })` and `run`.
 * Both writes are check-ins: operators, or anonymous callers from the networks the admin listed.
 */
import { ConflictError, NotFoundError, ValidationError } from '../core/errors';
import type { Caller } from '../core/run.service';
import { reportTask, updateTask } from '../core/task.service';
import { builder } from './builder';
import { changeDeps } from './change';
import type { Context } from './context';
import { outcome } from './errors';
import { decodeId } from './ids';
import { callerOf, RunRef } from './run';
import { runNotifier } from './run-output';

const FIELDS = 'Required: the task\'s own fields as a JSON object (e.g. {"description", "status", "type", "object_uuid", "log"}); uuid, created, last_update and status_history are kept by the server.';

const ReportTaskInput = builder.inputType('ReportTaskInput', {
  description: 'A new task, as a VirtShell tool reports it.',
  // Not required in the schema only because JSON is passed as a variable: a missing one is a ValidationError.
  fields: (t) => ({ fields: t.field({ type: 'JSON', description: FIELDS }) }),
});

const UpdateTaskInput = builder.inputType('UpdateTaskInput', {
  description: 'Changes to a task: the fields given replace those of the same name; the previous status, time and log join its status_history.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The task (its run).' }),
    fields: t.field({ type: 'JSON', description: FIELDS }),
  }),
});

function checkinCaller(ctx: Context): Caller {
  return ctx.viewer ? callerOf({ ...ctx, viewer: ctx.viewer }) : { userId: null, username: 'anonymous', viaApiKey: false };
}

const ERRORS = [ValidationError, NotFoundError, ConflictError];

builder.mutationFields((t) => ({
  // skipTypeScopes: the Mutation type asks for a signed-in caller; `checkin` decides here instead.
  reportTask: t.withAuth({ checkin: true }).field({
    type: RunRef,
    skipTypeScopes: true,
    description:
      'Records a task (a run reported by `virtshell`); its status maps to the run state (pending → QUEUED, in progress → RUNNING, sucess/success → SUCCEEDED, failed → FAILED). Operators and admins, or anonymous check-ins from listed networks.',
    errors: outcome('the recorded task', ERRORS),
    args: { input: t.arg({ type: ReportTaskInput, required: true, description: 'The task.' }) },
    resolve: async (_root, { input }, ctx) => {
      const run = await reportTask(changeDeps(ctx), checkinCaller(ctx), input.fields);
      runNotifier(ctx.app.pubsub).runUpdated(run);
      return run;
    },
  }),
  updateTask: t.withAuth({ checkin: true }).field({
    type: RunRef,
    skipTypeScopes: true,
    description: 'Changes a task, keeping its previous status, time and log in status_history. Operators and admins, or anonymous check-ins from listed networks.',
    errors: outcome('the changed task', ERRORS),
    args: { input: t.arg({ type: UpdateTaskInput, required: true, description: 'The task and what changes.' }) },
    resolve: async (_root, { input }, ctx) => {
      const run = await updateTask(changeDeps(ctx), decodeId('Run', input.id, 'input.id'), input.fields);
      runNotifier(ctx.app.pubsub).runUpdated(run);
      return run;
    },
  }),
}));
