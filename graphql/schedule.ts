/**
 * Schedules in GraphQL: the Schedule type, the `schedules` list, `previewSchedule`, the admin
 * mutations, pause/resume for operators, `scheduleUpdated`, and `schedules` on Script, Host and
 * Group.
 */
import { clearAllDataLoaders } from '@pothos/plugin-dataloader';
import { MAX_PREVIEW } from '../core/cron';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors';
import { countProblem, previewCron, upcomingRuns, type CronPreview } from '../core/schedule-timing';
import { createSchedule, deleteSchedule, setScheduleEnabled, updateSchedule, type ScheduleSettings, type ScheduleWhen } from '../core/schedule.service';
import {
  findScheduleById,
  findSchedulesByIds,
  listGroupsOfSchedules,
  listHostsOfSchedules,
  listSchedules,
  listSchedulesOfGroups,
  listSchedulesOfHosts,
  listSchedulesOfScripts,
  listTargetHostsOfSchedules,
  type Schedule,
} from '../db/schedule.repository';
import type { MissedPolicy, OverlapPolicy, ScheduleKind, TargetMode, TargetStrategy } from '../db/schema';
import { builder } from './builder';
import { changeDeps } from './change';
import { pageArgs, toConnection } from './connection';
import type { Context } from './context';
import { GroupRef } from './group';
import { HostRef } from './host';
import { decodeId, decodeIds, encodeGlobalID } from './ids';
import { ScriptRef } from './script';

export const ScheduleRef = builder.loadableNodeRef('Schedule', {
  id: { resolve: (value: Schedule) => value.id },
  load: (ids: string[], ctx) => findSchedulesByIds(ctx.app.db, ids),
  sort: (value) => value.id,
});

const ScheduleKindEnum = builder.enumType('ScheduleKind', {
  description: 'How a schedule says when to run.',
  values: {
    CRON: { value: 'cron', description: 'On a cron expression (5 fields, or 6 with seconds first), read in a timezone.' },
    INTERVAL: { value: 'interval', description: 'Every `intervalSeconds` seconds.' },
    ONCE: { value: 'once', description: 'Once, at `runAt`.' },
  } as const,
});

const TargetModeEnum = builder.enumType('ScheduleTargetMode', {
  description: 'Whether each firing runs on one of the target hosts or on all of them.',
  values: {
    ONE: { value: 'one', description: 'On one host, picked by `targetStrategy`.' },
    ALL: { value: 'all', description: 'On every host, each start `staggerSeconds` after the one before.' },
  } as const,
});

const TargetStrategyEnum = builder.enumType('ScheduleTargetStrategy', {
  description: 'How the one host is picked when `targetMode` is ONE (ignored with ALL).',
  values: {
    RANDOM: { value: 'random', description: 'Any online host, at random.' },
    ROUND_ROBIN: { value: 'round_robin', description: 'Each host in turn.' },
    LEAST_BUSY: { value: 'least_busy', description: 'The online host with the fewest runs going.' },
  } as const,
});

const MissedPolicyEnum = builder.enumType('ScheduleMissedPolicy', {
  description: 'What to do about firings missed while Runboard was down (within `missedWindowSeconds`).',
  values: {
    NONE: { value: 'none', description: 'Skip them; carry on with the next one.' },
    LAST: { value: 'last', description: 'Run once for the latest missed firing.' },
    ALL: { value: 'all', description: 'Run once for every missed firing.' },
  } as const,
});

const OverlapPolicyEnum = builder.enumType('ScheduleOverlapPolicy', {
  description: "What to do when a firing comes while the schedule's previous run is still going.",
  values: {
    ALLOW: { value: 'allow', description: 'Start another run alongside it.' },
    SKIP: { value: 'skip', description: 'Skip this firing (recorded as a skipped run).' },
    QUEUE: { value: 'queue', description: 'Start this run once the previous one ends.' },
    CANCEL_PREVIOUS: { value: 'cancel_previous', description: 'Cancel the previous run and start this one.' },
  } as const,
});

const ParameterRef = builder.objectRef<{ name: string; value: string }>('ScheduleParameter').implement({
  description: "A value the schedule's runs give one of the script's parameters.",
  fields: (t) => ({
    name: t.exposeString('name', { description: "The script's parameter." }),
    value: t.exposeString('value', { description: 'The value its runs get.' }),
  }),
});

const PREVIEW_DEFAULT = 5;

function checkCount(count: number): void {
  const message = countProblem(count);
  if (message) throw new ValidationError(message, [{ path: ['count'], message }]);
}

ScheduleRef.implement({
  description:
    'When and where a script runs: a cron, an interval or one moment, on hosts or groups (or, naming neither, on the `local` host).',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Unique (ignoring case), 1–140 characters.' }),
    description: t.exposeString('description', { description: 'Notes for people; may be empty.' }),
    script: t.field({ type: ScriptRef, description: 'The script it runs. It cannot change.', resolve: (s) => s.scriptId }),
    kind: t.field({ type: ScheduleKindEnum, description: 'How it says when to run.', resolve: (s) => s.kind }),
    cron: t.exposeString('cron', { nullable: true, description: 'CRON: the expression (5 fields, or 6 with seconds first); null otherwise.' }),
    timezone: t.exposeString('timezone', { description: 'CRON: the IANA zone the cron is read in (UTC for other kinds).' }),
    intervalSeconds: t.exposeInt('intervalSeconds', { nullable: true, description: 'INTERVAL: seconds between runs; null otherwise.' }),
    runAt: t.expose('runAt', { type: 'DateTime', nullable: true, description: 'ONCE: the moment it runs; null otherwise.' }),
    hosts: t.loadableList({
      type: HostRef,
      description: 'The hosts it names (the `local` host when it was given neither hosts nor groups), by name.',
      load: (ids: string[], ctx: Context) => listHostsOfSchedules(ctx.app.db, ids),
      resolve: (s) => s.id,
    }),
    groups: t.loadableList({
      type: GroupRef,
      description: 'The groups it names, by name.',
      load: (ids: string[], ctx: Context) => listGroupsOfSchedules(ctx.app.db, ids),
      resolve: (s) => s.id,
    }),
    targetHosts: t.loadableList({
      type: HostRef,
      description: 'Every host it runs on: the hosts it names and the members of its groups, by name.',
      load: (ids: string[], ctx: Context) => listTargetHostsOfSchedules(ctx.app.db, ids),
      resolve: (s) => s.id,
    }),
    targetMode: t.field({ type: TargetModeEnum, description: 'One of the hosts, or all of them.', resolve: (s) => s.targetMode }),
    targetStrategy: t.field({ type: TargetStrategyEnum, description: 'How the one host is picked (with ONE).', resolve: (s) => s.targetStrategy }),
    staggerSeconds: t.exposeInt('staggerSeconds', { description: 'With ALL: seconds between one host starting and the next. 0 starts them together.' }),
    enabled: t.exposeBoolean('enabled', { description: 'False while paused: a paused schedule does not fire.' }),
    missedPolicy: t.field({ type: MissedPolicyEnum, description: 'What to do about firings missed while Runboard was down.', resolve: (s) => s.missedPolicy }),
    missedWindowSeconds: t.exposeInt('missedWindowSeconds', { description: 'How far back a missed firing still counts. Default 3600.' }),
    overlapPolicy: t.field({ type: OverlapPolicyEnum, description: 'What to do when the previous run is still going.', resolve: (s) => s.overlapPolicy }),
    parameters: t.field({
      type: [ParameterRef],
      description: 'Values its runs give the script\'s parameters, by name.',
      resolve: (s) => Object.entries(s.parameters).map(([name, value]) => ({ name, value })).sort((a, b) => a.name.localeCompare(b.name)),
    }),
    ownsScript: t.exposeBoolean('ownsScript', {
      description: 'Whether its script was made for it alone, as a job (createJob): deleteJob deletes that script with it.',
    }),
    lastRunAt: t.expose('lastRunAt', { type: 'DateTime', nullable: true, description: 'When it last fired; null when it never has.' }),
    nextRunAt: t.expose('nextRunAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When it fires next; null while paused or when a one-shot has passed.',
    }),
    nextRuns: t.field({
      type: ['DateTime'],
      description: 'The next moments it fires, soonest first; empty while paused.',
      args: { count: t.arg.int({ defaultValue: PREVIEW_DEFAULT, required: true, description: `How many, 1–${MAX_PREVIEW}. Default ${PREVIEW_DEFAULT}.` }) },
      resolve: (s, { count }) => {
        checkCount(count);
        return upcomingRuns(s, count);
      },
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When its settings last changed.' }),
  }),
});

const SchedulePreviewRef = builder.objectRef<CronPreview>('SchedulePreview').implement({
  description: 'The moments a cron fires, or, when the input is wrong, what is wrong (never a GraphQL error: check `valid`).',
  fields: (t) => ({
    valid: t.exposeBoolean('valid', { description: 'Whether the cron, timezone and count are all acceptable.' }),
    error: t.exposeString('error', { nullable: true, description: 'What is wrong, in words a person can act on; null when valid.' }),
    field: t.exposeString('field', { nullable: true, description: 'The argument that is wrong: "cron", "timezone" or "count"; null when valid.' }),
    timezone: t.exposeString('timezone', { description: 'The timezone as Runboard spells it (e.g. "europe/paris" → "Europe/Paris").' }),
    occurrences: t.field({
      type: ['DateTime'],
      description: 'The next moments it fires after `from`, soonest first (daylight-saving changes applied); empty when not valid.',
      resolve: (p) => p.occurrences,
    }),
  }),
});

const ScheduleFilterInput = builder.inputType('ScheduleFilter', {
  description: 'Narrows the list of schedules; every field given must match.',
  fields: (t) => ({
    scriptId: t.id({ description: 'Schedules of this script.' }),
    hostId: t.id({ description: 'Schedules that run on this host: naming it, or one of its groups.' }),
    groupId: t.id({ description: 'Schedules that name this group.' }),
    enabled: t.boolean({ description: 'True for active schedules, false for paused ones.' }),
  }),
});

builder.queryFields((t) => ({
  schedules: t.connection({
    type: ScheduleRef,
    description: 'Schedules, by name.',
    args: {
      search: t.arg.string({ description: 'Text in the name (case-insensitive).' }),
      filter: t.arg({ type: ScheduleFilterInput, description: 'Only schedules that match.' }),
    },
    resolve: async (_root, args, ctx) => {
      const f = args.filter ?? {};
      const page = await listSchedules(
        ctx.app.db,
        {
          search: args.search ?? undefined,
          scriptId: f.scriptId ? decodeId('Script', f.scriptId, 'filter.scriptId') : undefined,
          hostId: f.hostId ? decodeId('Host', f.hostId, 'filter.hostId') : undefined,
          groupId: f.groupId ? decodeId('Group', f.groupId, 'filter.groupId') : undefined,
          enabled: f.enabled ?? undefined,
        },
        pageArgs(args),
      );
      return toConnection(page);
    },
  }),
  schedule: t.field({
    type: ScheduleRef,
    nullable: true,
    description: 'One schedule by id (a global id or its UUID); null when there is none.',
    args: { id: t.arg.id({ required: true, description: 'The schedule.' }) },
    resolve: (_root, { id }, ctx) => findScheduleById(ctx.app.db, decodeId('Schedule', id)),
  }),
  previewSchedule: t.field({
    type: SchedulePreviewRef,
    description: 'The next moments a cron fires in a timezone, for checking one as it is typed. Invalid input answers `valid: false` with the reason.',
    args: {
      cron: t.arg.string({ required: true, description: 'A cron of 5 fields (minute hour day month weekday), or 6 with seconds first; or an alias such as @daily.' }),
      timezone: t.arg.string({ required: true, defaultValue: 'UTC', description: 'The IANA zone to read it in, e.g. "Europe/Paris". Default UTC.' }),
      count: t.arg.int({ required: true, defaultValue: PREVIEW_DEFAULT, description: `How many moments, 1–${MAX_PREVIEW}. Default ${PREVIEW_DEFAULT}.` }),
      from: t.arg({ type: 'DateTime', description: 'List the moments after this one. Default now.' }),
    },
    resolve: (_root, args) => previewCron({ cron: args.cron, timezone: args.timezone, count: args.count, from: args.from }),
  }),
}));

export const WhenInput = builder.inputType('ScheduleWhenInput', {
  description: 'When a schedule fires. Give exactly the fields of its kind: CRON takes cron (and timezone), INTERVAL intervalSeconds, ONCE runAt.',
  fields: (t) => ({
    kind: t.field({ type: ScheduleKindEnum, required: true, description: 'How it says when to run.' }),
    cron: t.string({ description: 'CRON: 5 fields (minute hour day month weekday), or 6 with seconds first; or an alias such as @daily.' }),
    timezone: t.string({ description: 'CRON: the IANA zone to read the cron in, e.g. "Europe/Paris". Default UTC.' }),
    intervalSeconds: t.int({ description: 'INTERVAL: seconds between runs, from 1 to a year. The first run is one interval after saving.' }),
    runAt: t.field({ type: 'DateTime', description: 'ONCE: the moment to run; must be in the future.' }),
  }),
});

const ParameterInput = builder.inputType('ScheduleParameterInput', {
  description: "A value for one of the script's parameters.",
  fields: (t) => ({
    name: t.string({ required: true, description: 'A parameter the script declares.' }),
    value: t.string({ required: true, description: 'The value (at most 10,000 characters).' }),
  }),
});

const TARGETS =
  'Give hosts or groups, not both. With neither, the schedule runs on the `local` host (the server itself).';

type Types = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

/** Input fields create and update share. */
function settingsFields(t: PothosSchemaTypes.InputFieldBuilder<Types, 'InputObject'>, update: boolean) {
  const replaces = update ? ' Giving hosts or groups (even an empty list) replaces the targets.' : '';
  return {
    description: t.string({ description: 'Notes for people (at most 10,000 characters).' }),
    hostIds: t.idList({ description: `Hosts to run on. ${TARGETS}${replaces}` }),
    groupIds: t.idList({ description: `Groups whose hosts to run on. ${TARGETS}${replaces}` }),
    targetMode: t.field({ type: TargetModeEnum, description: 'One of the hosts, or all of them. Default ONE.' }),
    targetStrategy: t.field({ type: TargetStrategyEnum, description: 'How the one host is picked (with ONE). Default RANDOM.' }),
    staggerSeconds: t.int({ description: 'Only with ALL: seconds between one host starting and the next, 0–86400. Default 0.' }),
    enabled: t.boolean({ description: 'False to save it paused. Default true.' }),
    missedPolicy: t.field({ type: MissedPolicyEnum, description: 'What to do about firings missed while Runboard was down. Default NONE.' }),
    missedWindowSeconds: t.int({ description: 'How far back a missed firing still counts, in seconds. Default 3600.' }),
    overlapPolicy: t.field({ type: OverlapPolicyEnum, description: 'What to do when the previous run is still going. Default ALLOW.' }),
    parameters: t.field({
      type: [ParameterInput],
      description: update ? "Values for the script's parameters; replaces them all." : "Values for the script's parameters.",
    }),
  };
}

const CreateScheduleInput = builder.inputType('CreateScheduleInput', {
  description: 'A new schedule.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Unique (ignoring case), 1–140 characters.' }),
    scriptId: t.id({ required: true, description: 'The script to run. It cannot change later.' }),
    when: t.field({ type: WhenInput, required: true, description: 'When it fires.' }),
    ...settingsFields(t, false),
  }),
});

const UpdateScheduleInput = builder.inputType('UpdateScheduleInput', {
  description: 'Changes to a schedule: only the fields given change. Changing when, targets or enabled recomputes the next run.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The schedule to change.' }),
    name: t.string({ description: 'Unique (ignoring case), 1–140 characters.' }),
    scriptId: t.id({
      description: 'A schedule cannot change its script (as in Otto): this may only repeat the current one. Create a new schedule for another script.',
    }),
    when: t.field({ type: WhenInput, description: 'When it fires; replaces the current timing as a whole.' }),
    ...settingsFields(t, true),
  }),
});

type SettingsArgs = {
  description?: string | null;
  hostIds?: (string | number)[] | null;
  groupIds?: (string | number)[] | null;
  targetMode?: TargetMode | null;
  targetStrategy?: TargetStrategy | null;
  staggerSeconds?: number | null;
  enabled?: boolean | null;
  missedPolicy?: MissedPolicy | null;
  missedWindowSeconds?: number | null;
  overlapPolicy?: OverlapPolicy | null;
  parameters?: { name: string; value: string }[] | null;
};

export type WhenArgs = { kind: ScheduleKind; cron?: string | null; timezone?: string | null; intervalSeconds?: number | null; runAt?: Date | null };

export const when = (w: WhenArgs): ScheduleWhen => ({ ...w });

/** Decodes the ids of the shared settings; null means "not given". */
function settings(input: SettingsArgs): ScheduleSettings {
  return {
    description: input.description ?? undefined,
    hostIds: input.hostIds ? decodeIds('Host', input.hostIds, 'input.hostIds') : undefined,
    groupIds: input.groupIds ? decodeIds('Group', input.groupIds, 'input.groupIds') : undefined,
    targetMode: input.targetMode ?? undefined,
    targetStrategy: input.targetStrategy ?? undefined,
    staggerSeconds: input.staggerSeconds ?? undefined,
    enabled: input.enabled ?? undefined,
    missedPolicy: input.missedPolicy ?? undefined,
    missedWindowSeconds: input.missedWindowSeconds ?? undefined,
    overlapPolicy: input.overlapPolicy ?? undefined,
    parameters: input.parameters ?? undefined,
  };
}

/** Tells `scheduleUpdated` subscribers; call after the change has committed. */
export function publishSchedule(ctx: Context, id: string, change: { deleted?: boolean; created?: boolean } = {}): void {
  ctx.app.pubsub.publish('scheduleUpdated', { id, deleted: change.deleted ?? false, ...(change.created && { created: true }) });
}

builder.mutationFields((t) => ({
  createSchedule: t.withAuth({ role: 'admin' }).field({
    type: ScheduleRef,
    description: 'Creates a schedule and computes its next run. Admins only.',
    errors: { types: [ValidationError, NotFoundError, ConflictError] },
    args: { input: t.arg({ type: CreateScheduleInput, required: true, description: 'The new schedule.' }) },
    resolve: async (_root, { input }, ctx) => {
      const schedule = await createSchedule(changeDeps(ctx), {
        ...settings(input),
        name: input.name,
        scriptId: decodeId('Script', input.scriptId, 'input.scriptId'),
        when: when(input.when),
      });
      publishSchedule(ctx, schedule.id, { created: true });
      return schedule;
    },
  }),
  updateSchedule: t.withAuth({ role: 'admin' }).field({
    type: ScheduleRef,
    description: 'Changes a schedule (only the fields given). Its script cannot change. Admins only.',
    errors: { types: [ValidationError, NotFoundError, ConflictError] },
    args: { input: t.arg({ type: UpdateScheduleInput, required: true, description: 'The schedule and its changes.' }) },
    resolve: async (_root, { input }, ctx) => {
      const schedule = await updateSchedule(changeDeps(ctx), {
        ...settings(input),
        id: decodeId('Schedule', input.id, 'input.id'),
        name: input.name ?? undefined,
        scriptId: input.scriptId ? decodeId('Script', input.scriptId, 'input.scriptId') : undefined,
        when: input.when ? when(input.when) : undefined,
      });
      publishSchedule(ctx, schedule.id);
      return schedule;
    },
  }),
  deleteSchedule: t.withAuth({ role: 'admin' }).field({
    type: 'ID',
    description: 'Deletes a schedule and returns its global id. Its past runs stay, no longer linked to it. Admins only.',
    errors: { types: [ValidationError, NotFoundError] },
    args: { id: t.arg({ type: 'ID', required: true, description: 'The schedule to delete (a global id or its UUID).' }) },
    resolve: async (_root, { id }, ctx) => {
      const schedule = await deleteSchedule(changeDeps(ctx), decodeId('Schedule', id));
      publishSchedule(ctx, schedule.id, { deleted: true });
      return encodeGlobalID('Schedule', schedule.id);
    },
  }),
  pauseSchedule: t.withAuth({ role: 'operator' }).field({
    type: ScheduleRef,
    description: 'Pauses a schedule: it stops firing until resumed. Pausing a paused schedule changes nothing. Operators and admins.',
    errors: { types: [ValidationError, NotFoundError] },
    args: { id: t.arg({ type: 'ID', required: true, description: 'The schedule to pause (a global id or its UUID).' }) },
    resolve: async (_root, { id }, ctx) => {
      const schedule = await setScheduleEnabled(changeDeps(ctx), decodeId('Schedule', id), false);
      publishSchedule(ctx, schedule.id);
      return schedule;
    },
  }),
  resumeSchedule: t.withAuth({ role: 'operator' }).field({
    type: ScheduleRef,
    description: 'Resumes a paused schedule and computes its next run. Resuming an active schedule changes nothing. Operators and admins.',
    errors: { types: [ValidationError, NotFoundError] },
    args: { id: t.arg({ type: 'ID', required: true, description: 'The schedule to resume (a global id or its UUID).' }) },
    resolve: async (_root, { id }, ctx) => {
      const schedule = await setScheduleEnabled(changeDeps(ctx), decodeId('Schedule', id), true);
      publishSchedule(ctx, schedule.id);
      return schedule;
    },
  }),
}));

type ScheduleChangeKind = 'CREATED' | 'UPDATED' | 'DELETED';

const ScheduleChangeKindEnum = builder.enumType('ScheduleChangeKind', {
  description: 'What happened to a schedule.',
  values: {
    CREATED: { description: 'It was created.' },
    UPDATED: { description: 'Its settings changed, or it was paused or resumed.' },
    DELETED: { description: 'It was deleted.' },
  } as const,
});

const ScheduleChangeRef = builder.objectRef<{ kind: ScheduleChangeKind; id: string }>('ScheduleChange').implement({
  description: 'A schedule was created, changed or deleted.',
  fields: (t) => ({
    kind: t.field({ type: ScheduleChangeKindEnum, description: 'What happened.', resolve: (change) => change.kind }),
    scheduleId: t.id({ description: 'The global id of the schedule.', resolve: (change) => encodeGlobalID('Schedule', change.id) }),
    schedule: t.field({
      type: ScheduleRef,
      nullable: true,
      description: 'The schedule as it is now; null when it was deleted.',
      resolve: (change) => (change.kind === 'DELETED' ? null : change.id),
    }),
  }),
});

builder.subscriptionFields((t) => ({
  scheduleUpdated: t.field({
    type: ScheduleChangeRef,
    description: 'Fires when a schedule is created, changed, paused, resumed or deleted.',
    subscribe: (_root, _args, ctx) => ctx.app.pubsub.subscribe('scheduleUpdated'),
    resolve: (payload: { id: string; deleted: boolean; created?: boolean }, _args, ctx) => {
      // A subscription keeps one context, and its DataLoaders, for its whole life: forget what
      // earlier events loaded, or a schedule that changes twice would show its first state again.
      clearAllDataLoaders(ctx);
      return { id: payload.id, kind: (payload.deleted ? 'DELETED' : payload.created ? 'CREATED' : 'UPDATED') as ScheduleChangeKind };
    },
  }),
}));

// The schedules of a script, of a host (naming it or one of its groups) and of a group.

builder.objectFields(ScriptRef, (t) => ({
  schedules: t.loadableList({
    type: ScheduleRef,
    description: 'The schedules that run this script, by name.',
    load: (ids: string[], ctx: Context) => listSchedulesOfScripts(ctx.app.db, ids),
    resolve: (script) => script.id,
  }),
}));

builder.objectFields(HostRef, (t) => ({
  schedules: t.loadableList({
    type: ScheduleRef,
    description: 'The schedules that run on this host, naming it or one of its groups, by name.',
    load: (ids: string[], ctx: Context) => listSchedulesOfHosts(ctx.app.db, ids),
    resolve: (host) => host.id,
  }),
}));

builder.objectFields(GroupRef, (t) => ({
  schedules: t.loadableList({
    type: ScheduleRef,
    description: 'The schedules that name this group, by name.',
    load: (ids: string[], ctx: Context) => listSchedulesOfGroups(ctx.app.db, ids),
    resolve: (group) => group.id,
  }),
}));
