/**
 * Runs in GraphQL: the Run type, the `runs` lists (top level and on scripts, hosts and
 * schedules), starting, cancelling, reporting and deleting runs, and `runUpdated`. Output and
 * `runOutput` live in run-output.ts.
 */
import { filter, pipe } from 'graphql-yoga';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors';
import { isActive } from '../core/run-state';
import { cancelRun, deleteRun, reportRun, startRun, updateReportedRun, type Caller, type RunUpdatedMessage } from '../core/run.service';
import { listChunks } from '../db/run-output.repository';
import { findRunsByIds, listRuns, type Run, type RunFilter } from '../db/run.repository';
import type { RunState, RunTrigger } from '../db/schema';
import { builder } from './builder';
import { changeDeps } from './change';
import { CheckRef } from './check';
import { pageArgs, pageOf, toConnection } from './connection';
import { outcome } from './errors';
import type { SignedInContext } from './context';
import { HostRef } from './host';
import { decodeId, encodeGlobalID } from './ids';
import { checkOutputRange, OutputChunkRef, runNotifier } from './run-output';
import { ScheduleRef } from './schedule';
import { ScriptRef } from './script';

export const RunRef = builder.loadableNodeRef('Run', {
  id: { resolve: (value: Run) => value.id },
  load: (ids: string[], ctx) => findRunsByIds(ctx.app.db, ids),
  sort: (value) => value.id,
});

export const RunStateEnum = builder.enumType('RunState', {
  description: 'Where a run is: queued → dispatched → running → one of the finished states.',
  values: {
    QUEUED: { value: 'queued', description: 'Waiting to be sent to its host.' },
    DISPATCHED: { value: 'dispatched', description: 'Sent to its host, not yet started there.' },
    RUNNING: { value: 'running', description: 'Running on its host.' },
    SUCCEEDED: { value: 'succeeded', description: 'Finished with exit code 0.' },
    FAILED: { value: 'failed', description: 'Finished with another exit code, or could not start.' },
    TIMED_OUT: { value: 'timed_out', description: "Stopped because it ran past its script's timeout." },
    CANCELLED: { value: 'cancelled', description: 'Stopped, or never started, because someone cancelled it.' },
    LOST: { value: 'lost', description: 'Its host or Runboard instance went away while it ran; how it ended is unknown.' },
    SKIPPED: { value: 'skipped', description: "Never ran: a concurrency policy dropped it (e.g. the schedule's previous run was still going)." },
  } as const satisfies Record<string, { value: RunState; description: string }>,
});

export const RunTriggerEnum = builder.enumType('RunTrigger', {
  description: 'What made a run happen.',
  values: {
    SCHEDULE: { value: 'schedule', description: 'A schedule fired.' },
    MANUAL: { value: 'manual', description: 'A person started it (signed in).' },
    API: { value: 'api', description: 'A program started it with an API key.' },
    WEBHOOK: { value: 'webhook', description: 'A webhook call (a Sloth CI listen point).' },
    REPORT: { value: 'report', description: 'It ran outside Runboard and was reported (VirtShell tasks, Sloth builds, other tools).' },
    RETRY: { value: 'retry', description: 'An automatic retry of a failed run.' },
  } as const satisfies Record<string, { value: RunTrigger; description: string }>,
});

const RunParameterRef = builder.objectRef<{ name: string; value: string }>('RunParameter').implement({
  description: 'A parameter a run was given (its value, or the script default).',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'As the script declares it.' }),
    value: t.exposeString('value', { description: 'The value the run had.' }),
  }),
});

const DEFAULT_OUTPUT_LIMIT = 1000;

RunRef.implement({
  description: 'One execution of a script on one host, or one reported from outside.',
  fields: (t) => ({
    state: t.field({ type: RunStateEnum, description: 'Where it is now.', resolve: (run) => run.state }),
    active: t.boolean({ description: 'Whether it can still move (queued, dispatched or running).', resolve: (run) => isActive(run.state) }),
    trigger: t.field({ type: RunTriggerEnum, description: 'What made it happen.', resolve: (run) => run.trigger }),
    script: t.field({
      type: ScriptRef,
      nullable: true,
      description: 'The script; null when it was deleted, or for a reported run whose script Runboard does not know (see `scriptName`).',
      resolve: (run) => run.scriptId,
    }),
    scriptName: t.exposeString('scriptName', { description: 'The name of the script at the time (kept when the script is deleted).' }),
    host: t.field({
      type: HostRef,
      nullable: true,
      description: 'The host it ran on; null when deleted, or for a reported run from a host Runboard does not know (see `hostName`).',
      resolve: (run) => run.hostId,
    }),
    hostName: t.exposeString('hostName', { nullable: true, description: 'The name of the host at the time; null when none was given.' }),
    schedule: t.field({ type: ScheduleRef, nullable: true, description: 'The schedule that fired it, if any.', resolve: (run) => run.scheduleId }),
    scheduledFor: t.expose('scheduledFor', { type: 'DateTime', nullable: true, description: 'The moment its schedule fired for (not when it started).' }),
    occurrenceId: t.id({
      nullable: true,
      description: "The firing of its schedule it belongs to; the runs of one firing (one per host) share it (Otto's schedule reports).",
      resolve: (run) => run.occurrenceId,
    }),
    check: t.field({ type: CheckRef, nullable: true, description: 'The check it reported to, if any.', resolve: (run) => run.checkId }),
    retryOf: t.field({ type: RunRef, nullable: true, description: 'The failed run this one retries.', resolve: (run) => run.retryOf }),
    attempt: t.exposeInt('attempt', { description: '1 for a first run, 2 for its first retry, and so on.' }),
    triggeredBy: t.exposeString('triggeredBy', {
      nullable: true,
      description: 'Who or what asked for it: a username, a schedule, a webhook.',
    }),
    parameters: t.field({
      type: [RunParameterRef],
      description: 'The parameters it ran with, by name: the values given, or the script defaults.',
      resolve: (run) =>
        Object.entries(run.parameters)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([name, value]) => ({ name, value: String(value) })),
    }),
    exitCode: t.exposeInt('exitCode', { nullable: true, description: 'The exit code; null until it finishes, or when there was none.' }),
    summary: t.exposeString('summary', {
      nullable: true,
      description: 'One line on how it went (an error starting it, a build status such as "Complete (3/3)"), when there is one.',
    }),
    pid: t.exposeInt('pid', { nullable: true, description: 'The process id on its host, while and after it runs.' }),
    outputBytes: t.exposeInt('outputBytes', { description: 'How much output it has, in bytes of UTF-8.' }),
    outputTruncated: t.exposeBoolean('outputTruncated', { description: 'Whether output was dropped because it went over the limit per run.' }),
    external: t.field({
      type: 'JSON',
      description: "What an outside tool reported that has no field of its own (a VirtShell task's fields, a job's result), as a JSON object.",
      resolve: (run) => run.external,
    }),
    reporter: t.exposeString('reporter', {
      nullable: true,
      description: 'The outside tool that reported it, when it has its own API: `virtshell` for VirtShell tasks. Null for other runs.',
    }),
    result: t.field({
      type: 'JSON',
      nullable: true,
      description: 'What a built-in job returned: a no-op its arguments, a command `{"returncode": n}`, an HTTP request the response text. A script with steps: `{"stepCount", "stopOnFirstFailure", "steps": [{"index", "command", "exitCode", "error", "startedAt", "finishedAt"}]}` for the steps it reached (error null when one succeeded). Null for other scripts.',
      resolve: (run) => run.result ?? null,
    }),
    notBefore: t.expose('notBefore', {
      type: 'DateTime',
      nullable: true,
      description: 'A queued run waits until then (a retry delay, a stagger between hosts); null when it may start at once.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was queued (or reported). Lists are newest first by this.' }),
    startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true, description: 'When it started running; null before.' }),
    finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true, description: 'When it finished; null while active.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When anything about it last changed (state, output).' }),
    durationMs: t.float({
      nullable: true,
      description: 'How long it ran, in milliseconds: until it finished, or until now while it runs. Null when it never started.',
      resolve: (run) => {
        if (!run.startedAt) return null;
        const end = run.finishedAt ?? (isActive(run.state) ? new Date() : null);
        return end ? end.getTime() - run.startedAt.getTime() : null;
      },
    }),
    output: t.field({
      type: [OutputChunkRef],
      description:
        'Its stored output, as chunks in order, from byte `fromOffset`. At most `limit` chunks: for more, ask again from the `offset + bytes` of the last one. ' +
        'One query per run: ask for it on one run at a time. Follow a running one with the `runOutput` subscription.',
      args: {
        fromOffset: t.arg.int({ defaultValue: 0, description: 'Start at this byte (bytes of UTF-8; 0 is the beginning). The chunk holding it is included whole.' }),
        limit: t.arg.int({ defaultValue: DEFAULT_OUTPUT_LIMIT, description: `At most this many chunks, 1–5000. Default ${DEFAULT_OUTPUT_LIMIT}.` }),
      },
      resolve: (run, args, ctx) => {
        const fromOffset = args.fromOffset ?? 0;
        const limit = args.limit ?? DEFAULT_OUTPUT_LIMIT;
        checkOutputRange(fromOffset, limit);
        return listChunks(ctx.app.db, run.id, { fromOffset, limit });
      },
    }),
  }),
});

const RunFilterInput = builder.inputType('RunFilter', {
  description: 'Narrows a list of runs; every field given must match.',
  fields: (t) => ({
    states: t.field({ type: [RunStateEnum], description: 'Runs in any of these states.' }),
    triggers: t.field({ type: [RunTriggerEnum], description: 'Runs made by any of these triggers.' }),
    scriptId: t.id({ description: 'Runs of this script.' }),
    hostId: t.id({ description: 'Runs on this host.' }),
    scheduleId: t.id({ description: 'Runs fired by this schedule.' }),
    checkId: t.id({ description: 'Runs reported to this check.' }),
    since: t.field({ type: 'DateTime', description: 'Runs created at or after this moment.' }),
    until: t.field({ type: 'DateTime', description: 'Runs created before this moment.' }),
    scheduledSince: t.field({ type: 'DateTime', description: 'Runs scheduled for this moment or later (a run without a schedule: created then or later).' }),
    scheduledUntil: t.field({ type: 'DateTime', description: 'Runs scheduled for before this moment (a run without a schedule: created before it).' }),
    search: t.string({ description: 'Text in the script name (case-insensitive).' }),
    reporter: t.string({ description: 'Runs reported by this outside tool (e.g. `virtshell`).' }),
    reportedStatus: t.string({ description: "Runs whose reporter's own status (`external.status`) is exactly this, e.g. a VirtShell task's `in progress`." }),
  }),
});

type RunFilterArg = typeof RunFilterInput.$inferInput;

function runFilter(f: RunFilterArg | null | undefined): RunFilter {
  if (!f) return {};
  return {
    states: f.states ?? undefined,
    triggers: f.triggers ?? undefined,
    scriptId: f.scriptId ? decodeId('Script', f.scriptId, 'filter.scriptId') : undefined,
    hostId: f.hostId ? decodeId('Host', f.hostId, 'filter.hostId') : undefined,
    scheduleId: f.scheduleId ? decodeId('Schedule', f.scheduleId, 'filter.scheduleId') : undefined,
    checkId: f.checkId ? decodeId('Check', f.checkId, 'filter.checkId') : undefined,
    since: f.since ?? undefined,
    until: f.until ?? undefined,
    scheduledSince: f.scheduledSince ?? undefined,
    scheduledUntil: f.scheduledUntil ?? undefined,
    search: f.search ?? undefined,
    reporter: f.reporter ?? undefined,
    reportedStatus: f.reportedStatus ?? undefined,
  };
}

builder.queryFields((t) => ({
  runs: t.connection(
    {
      type: RunRef,
      description: 'Runs, newest first.',
      args: { filter: t.arg({ type: RunFilterInput, description: 'Only runs that match.' }) },
      resolve: async (_root, args, ctx) => toConnection(await listRuns(ctx.app.db, runFilter(args.filter), pageArgs(args))),
    },
    ...pageOf('runs'),
  ),
  run: t.field({
    type: RunRef,
    nullable: true,
    description: 'One run by id; null when there is none.',
    args: { id: t.arg.id({ required: true, description: 'The run (its global id, or its UUID).' }) },
    resolve: (_root, { id }) => decodeId('Run', id, 'id'),
  }),
}));

// The runs of one script, host or schedule: the same list with that id fixed.

builder.objectField(ScriptRef, 'runs', (t) =>
  t.connection(
    {
      type: RunRef,
      description: "This script's runs, newest first. A scriptId in the filter is ignored.",
      args: { filter: t.arg({ type: RunFilterInput, description: 'Only runs that match.' }) },
      resolve: async (script, args, ctx) =>
        toConnection(await listRuns(ctx.app.db, { ...runFilter({ ...args.filter, scriptId: null }), scriptId: script.id }, pageArgs(args))),
    },
    ...pageOf("a script's runs"),
  ),
);

builder.objectField(HostRef, 'runs', (t) =>
  t.connection(
    {
      type: RunRef,
      description: "This host's runs, newest first. A hostId in the filter is ignored.",
      args: { filter: t.arg({ type: RunFilterInput, description: 'Only runs that match.' }) },
      resolve: async (host, args, ctx) => toConnection(await listRuns(ctx.app.db, { ...runFilter({ ...args.filter, hostId: null }), hostId: host.id }, pageArgs(args))),
    },
    ...pageOf("a host's runs"),
  ),
);

builder.objectField(ScheduleRef, 'runs', (t) =>
  t.connection(
    {
      type: RunRef,
      description: "The runs this schedule fired, newest first. A scheduleId in the filter is ignored.",
      args: { filter: t.arg({ type: RunFilterInput, description: 'Only runs that match.' }) },
      resolve: async (schedule, args, ctx) =>
        toConnection(await listRuns(ctx.app.db, { ...runFilter({ ...args.filter, scheduleId: null }), scheduleId: schedule.id }, pageArgs(args))),
    },
    ...pageOf("a schedule's runs"),
  ),
);

// Mutations

const RunParameterInput = builder.inputType('RunParameterInput', {
  description: 'A value for one of the parameters the script declares.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'A parameter the script declares.' }),
    value: t.string({ required: true, description: 'Its value for this run, at most 10,000 characters.' }),
  }),
});

const StartRunInput = builder.inputType('StartRunInput', {
  description: 'What to run, and where. Give a host, a group, or neither (the local host).',
  fields: (t) => ({
    scriptId: t.id({ description: 'The script; it must be enabled. Required unless scheduleId is given (then it is that schedule\'s script).' }),
    hostId: t.id({ description: 'Run on this host. Default: the local host.' }),
    groupId: t.id({ description: 'Run on every enabled host of this group, one run each (instead of hostId).' }),
    parameters: t.field({
      type: [RunParameterInput],
      description: 'Values for parameters the script declares; the others take their defaults. An undeclared name is an error.',
    }),
    scheduleId: t.id({ description: "Run it now for this schedule of the script (ndscheduler's \"run a job\"): the runs link to the schedule." }),
  }),
});

const ReportedFields = {
  exitCode: 'The exit code, if there was one.',
  summary: 'One line on how it went, at most 10,000 characters (e.g. a build status or a task log line).',
  startedAt: 'When it started. Default: now for a running run, else none.',
  finishedAt: 'When it finished; only for a finished state. Default: now for a finished state.',
  external: "The reporting tool's own fields, as a JSON object (at most 100,000 characters), kept and echoed back.",
};

const ReportRunInput = builder.inputType('ReportRunInput', {
  description: 'A run that happened outside Runboard. Give a scriptName or a scriptId.',
  fields: (t) => ({
    scriptId: t.id({ description: 'A script Runboard knows.' }),
    scriptName: t.string({ description: 'The name of what ran, 1–140 characters; linked to the script of that name (ignoring case) when there is one.' }),
    hostName: t.string({ description: 'Where it ran, at most 140 characters; linked to the host of that name when there is one.' }),
    checkId: t.id({ description: 'The check it reports to, if any.' }),
    state: t.field({ type: RunStateEnum, required: true, description: 'Where it is: e.g. RUNNING, SUCCEEDED, FAILED.' }),
    exitCode: t.int({ description: ReportedFields.exitCode }),
    summary: t.string({ description: ReportedFields.summary }),
    startedAt: t.field({ type: 'DateTime', description: ReportedFields.startedAt }),
    finishedAt: t.field({ type: 'DateTime', description: ReportedFields.finishedAt }),
    external: t.field({ type: 'JSON', description: ReportedFields.external }),
  }),
});

const UpdateReportedRunInput = builder.inputType('UpdateReportedRunInput', {
  description: 'Changes to a reported run; fields left out stay as they are. Any state may follow any other: the reporter is the authority.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The reported run.' }),
    state: t.field({ type: RunStateEnum, description: 'Its new state. A finished state sets finishedAt (now) if it has none; an active one clears it.' }),
    exitCode: t.int({ description: `${ReportedFields.exitCode} Null clears it.` }),
    summary: t.string({ description: `${ReportedFields.summary} Null clears it.` }),
    startedAt: t.field({ type: 'DateTime', description: 'When it started.' }),
    finishedAt: t.field({ type: 'DateTime', description: 'When it finished; only for a finished state.' }),
    external: t.field({ type: 'JSON', description: 'Fields merged into its `external` object: a key given replaces that key, the others stay.' }),
  }),
});

export function callerOf(ctx: SignedInContext): Caller {
  return { userId: ctx.viewer.user.id, username: ctx.viewer.user.username, viaApiKey: ctx.viewer.via === 'apiKey' || ctx.viewer.via === 'accessKey' };
}

const ERRORS = [ValidationError, NotFoundError, ConflictError];

builder.mutationFields((t) => ({
  startRun: t.withAuth({ role: 'operator' }).field({
    type: [RunRef],
    description:
      'Queues a run of a script: on one host, on every enabled host of a group (one run each), or on the local host. Returns the queued runs. Operators and admins.',
    errors: outcome('the queued runs', ERRORS),
    args: { input: t.arg({ type: StartRunInput, required: true, description: 'What to run, and where.' }) },
    resolve: async (_root, { input }, ctx) => {
      const runs = await startRun(changeDeps(ctx), callerOf(ctx), {
        scriptId: input.scriptId ? decodeId('Script', input.scriptId, 'input.scriptId') : null,
        hostId: input.hostId ? decodeId('Host', input.hostId, 'input.hostId') : null,
        groupId: input.groupId ? decodeId('Group', input.groupId, 'input.groupId') : null,
        parameters: input.parameters,
        scheduleId: input.scheduleId ? decodeId('Schedule', input.scheduleId, 'input.scheduleId') : null,
      });
      const notify = runNotifier(ctx.app.pubsub);
      for (const run of runs) notify.runUpdated(run);
      // In this process at once (other instances hear the runUpdated event).
      ctx.app.execution?.wake();
      return runs;
    },
  }),
  cancelRun: t.withAuth({ role: 'operator' }).field({
    type: RunRef,
    description: 'Cancels a run that has not finished (queued, dispatched or running). Operators and admins.',
    errors: outcome('the cancelled run', ERRORS),
    args: { id: t.arg.id({ required: true, description: 'The run to cancel.' }) },
    resolve: async (_root, { id }, ctx) => {
      const run = await cancelRun(changeDeps(ctx), decodeId('Run', id, 'id'));
      runNotifier(ctx.app.pubsub).runUpdated(run);
      return run;
    },
  }),
  reportRun: t.withAuth({ role: 'operator' }).field({
    type: RunRef,
    description: 'Records a run that happened outside Runboard (trigger REPORT). Operators and admins.',
    errors: outcome('the recorded run', ERRORS),
    args: { input: t.arg({ type: ReportRunInput, required: true, description: 'What ran, where, and how it went.' }) },
    resolve: async (_root, { input }, ctx) => {
      const run = await reportRun(changeDeps(ctx), callerOf(ctx), {
        ...input,
        scriptId: input.scriptId ? decodeId('Script', input.scriptId, 'input.scriptId') : null,
        checkId: input.checkId ? decodeId('Check', input.checkId, 'input.checkId') : null,
      });
      runNotifier(ctx.app.pubsub).runUpdated(run);
      return run;
    },
  }),
  updateReportedRun: t.withAuth({ role: 'operator' }).field({
    type: RunRef,
    description: 'Changes a run that was reported from outside (trigger REPORT); other runs are refused. Operators and admins.',
    errors: outcome('the changed run', ERRORS),
    args: { input: t.arg({ type: UpdateReportedRunInput, required: true, description: 'The run and what changes.' }) },
    resolve: async (_root, { input }, ctx) => {
      const run = await updateReportedRun(changeDeps(ctx), { ...input, id: decodeId('Run', input.id, 'input.id') });
      runNotifier(ctx.app.pubsub).runUpdated(run);
      return run;
    },
  }),
  deleteRun: t.withAuth({ role: 'admin' }).field({
    type: 'ID',
    description: 'Deletes a finished run and its output, and returns its id. An active run must be cancelled first. Admins only.',
    errors: outcome('the id of the deleted run', ERRORS),
    args: { id: t.arg.id({ required: true, description: 'The run to delete.' }) },
    resolve: async (_root, { id }, ctx) => {
      const run = await deleteRun(changeDeps(ctx), decodeId('Run', id, 'id'));
      runNotifier(ctx.app.pubsub).runUpdated(run, true);
      return encodeGlobalID('Run', run.id);
    },
  }),
}));

// Subscriptions

const RunUpdateRef = builder.objectRef<RunUpdatedMessage>('RunUpdate').implement({
  description: 'A run was created, changed state or was deleted.',
  fields: (t) => ({
    id: t.id({ description: 'The global id of the run.', resolve: (update) => encodeGlobalID('Run', update.id) }),
    state: t.field({ type: RunStateEnum, description: 'Its state at that moment.', resolve: (update) => update.state }),
    deleted: t.exposeBoolean('deleted', { description: 'Whether it was deleted (then `run` is null).' }),
    run: t.field({
      type: RunRef,
      nullable: true,
      description: 'The run as it is now; null when it was deleted.',
      resolve: (update, _args, ctx) => {
        if (update.deleted) return null;
        // A subscription keeps its context (and its loaders) for its whole life: load afresh.
        RunRef.getDataloader(ctx).clear(update.id);
        return update.id;
      },
    }),
  }),
});

const RunUpdatedFilterInput = builder.inputType('RunUpdatedFilter', {
  description: 'Which run changes to hear of; every field given must match.',
  fields: (t) => ({
    runId: t.id({ description: 'Only this run.' }),
    scriptId: t.id({ description: 'Only runs of this script.' }),
    hostId: t.id({ description: 'Only runs on this host.' }),
    scheduleId: t.id({ description: 'Only runs fired by this schedule.' }),
    states: t.field({ type: [RunStateEnum], description: 'Only changes into any of these states.' }),
  }),
});

builder.subscriptionFields((t) => ({
  runUpdated: t.field({
    type: RunUpdateRef,
    description: 'Each run created, moved to another state, or deleted, as it happens.',
    args: { filter: t.arg({ type: RunUpdatedFilterInput, description: 'Only changes that match.' }) },
    subscribe: (_root, args, ctx) => {
      const f = args.filter ?? {};
      const runId = f.runId ? decodeId('Run', f.runId, 'filter.runId') : undefined;
      const scriptId = f.scriptId ? decodeId('Script', f.scriptId, 'filter.scriptId') : undefined;
      const hostId = f.hostId ? decodeId('Host', f.hostId, 'filter.hostId') : undefined;
      const scheduleId = f.scheduleId ? decodeId('Schedule', f.scheduleId, 'filter.scheduleId') : undefined;
      const states = f.states?.length ? new Set<string>(f.states) : undefined;
      return pipe(
        ctx.app.pubsub.subscribe('runUpdated'),
        filter(
          (m: RunUpdatedMessage) =>
            (!runId || m.id === runId) &&
            (!scriptId || m.scriptId === scriptId) &&
            (!hostId || m.hostId === hostId) &&
            (!scheduleId || m.scheduleId === scheduleId) &&
            (!states || states.has(m.state)),
        ),
      );
    },
    resolve: (update) => update,
  }),
}));
