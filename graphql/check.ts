/**
 * Checks in GraphQL: the Check and Ping types, the `checks` list, check management, pings and
 * `checkUpdated`. Scripto's script maps onto a check: id → `number`, last_exec → `lastPingAt`,
 * status → `lastSuccess`, periodicity → `periodSeconds`; a report is a `recordPing`.
 */
import { filter, pipe } from 'graphql-yoga';
import type { CheckChangeKind } from '../core/check-state';
import { submitCheckIn } from '../core/check-in-batch';
import { createCheck, deleteCheck, pauseCheck, recordPing, resumeCheck, rotatePingKey, updateCheck } from '../core/check.service';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors';
import { findCheckById, findCheckByNumber, findChecksByIds, listChecks, type Check } from '../db/check.repository';
import { findPingsByIds, listPings, type Ping } from '../db/ping.repository';
import { builder } from './builder';
import { changeDeps } from './change';
import { pageArgs, pageOf, toConnection } from './connection';
import { outcome } from './errors';
import type { Context } from './context';
import { decodeId, encodeGlobalID } from './ids';

export const CheckRef = builder.loadableNodeRef('Check', {
  id: { resolve: (value: Check) => value.id },
  load: (ids: string[], ctx) => findChecksByIds(ctx.app.db, ids),
  sort: (value) => value.id,
});

export const PingRef = builder.loadableNodeRef('Ping', {
  id: { resolve: (value: Ping) => value.id },
  load: (ids: string[], ctx) => findPingsByIds(ctx.app.db, ids),
  sort: (value) => value.id,
});

const CheckStateEnum = builder.enumType('CheckState', {
  description: 'Whether a check has reported in as expected.',
  values: {
    NEW: { value: 'new', description: 'No ping yet (or none since it was resumed): nothing is expected.' },
    UP: { value: 'up', description: 'Its last run succeeded and the next is not yet expected.' },
    LATE: { value: 'late', description: 'Past the expected time, within the grace period.' },
    DOWN: { value: 'down', description: 'Its last run failed, or nothing came by the expected time plus the grace period.' },
    PAUSED: { value: 'paused', description: 'Paused by an operator: pings are recorded, nothing is expected, it stays paused until resumed.' },
  } as const,
});

const CheckKindEnum = builder.enumType('CheckKind', {
  description: 'How a check says when it expects a ping.',
  values: {
    PERIOD: { value: 'period', description: 'Every `periodSeconds` after the last ping.' },
    CRON: { value: 'cron', description: 'At the next `cron` occurrence (in `timezone`) after the last ping.' },
  } as const,
});

const PingKindEnum = builder.enumType('PingKind', {
  description: 'What a ping reports.',
  values: {
    SUCCESS: { value: 'success', description: 'A run succeeded: the check is up.' },
    FAIL: { value: 'fail', description: 'A run failed: the check is down.' },
    START: { value: 'start', description: 'A run started: the state is unchanged, and the run must finish within the grace period.' },
    LOG: { value: 'log', description: 'A message only: recorded, changes nothing.' },
    EXIT: { value: 'exit', description: 'A run ended with `exitCode`: 0 is a success, anything else a failure.' },
  } as const,
});


const OPERATORS_ONLY = 'Operators and admins only: null for viewers.';

CheckRef.implement({
  description: 'A script that runs elsewhere and reports in (pings): up, late or down by its expected schedule.',
  fields: (t) => ({
    number: t.exposeInt('number', { description: 'A small integer that never changes: the `id` of the Scripto API.' }),
    name: t.exposeString('name', { description: 'What the script is called; unique (ignoring case) per server.' }),
    server: t.exposeString('server', { description: 'The machine it runs on (free text; "" when not given).' }),
    description: t.exposeString('description', { description: 'Notes for people.' }),
    kind: t.field({ type: CheckKindEnum, description: 'Whether it expects pings by period or by cron.', resolve: (c) => c.kind }),
    periodSeconds: t.exposeInt('periodSeconds', { nullable: true, description: 'For PERIOD checks: seconds expected between runs.' }),
    cron: t.exposeString('cron', { nullable: true, description: 'For CRON checks: when it runs (5 fields, or 6 with seconds first).' }),
    timezone: t.exposeString('timezone', { description: 'The IANA timezone the cron expression is read in.' }),
    graceSeconds: t.exposeInt('graceSeconds', { description: 'How long after the expected time it is late before it is down; also how long a started run has to finish.' }),
    state: t.field({
      type: CheckStateEnum,
      description: 'Its state as last recorded: pings set it at once; late and down over time are applied by the sweeper.',
      resolve: (c) => c.state,
    }),
    lastPingAt: t.expose('lastPingAt', { type: 'DateTime', nullable: true, description: 'When its last ping (other than LOG) happened: Scripto\'s `last_exec`.' }),
    lastPingKind: t.field({ type: PingKindEnum, nullable: true, description: 'What its last ping (other than LOG) was.', resolve: (c) => c.lastPingKind }),
    lastSuccess: t.exposeBoolean('lastSuccess', { nullable: true, description: 'Whether its last finished run succeeded (Scripto\'s `status`); null before the first.' }),
    lastStartAt: t.expose('lastStartAt', { type: 'DateTime', nullable: true, description: 'When the run in progress started; null when none is.' }),
    lastDurationMs: t.exposeInt('lastDurationMs', { nullable: true, description: 'How long its last finished run took, when a START was paired with it.' }),
    nextDueAt: t.expose('nextDueAt', {
      type: 'DateTime',
      nullable: true,
      description: 'When it goes down if nothing more arrives: the expected time plus the grace period (or a run\'s start plus the grace period). Null when new or paused.',
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When its settings or state last changed.' }),
    pingKey: t.exposeString('pingKey', {
      nullable: true,
      authScopes: { role: 'operator' },
      unauthorizedResolver: () => null,
      description: `The secret part of its ping URL: whoever has it can report for this check. ${OPERATORS_ONLY}`,
    }),
    pingPath: t.string({
      nullable: true,
      authScopes: { role: 'operator' },
      unauthorizedResolver: () => null,
      description: `The path of its ping URL, \`/ping/<pingKey>\`, to append to the server's address. ${OPERATORS_ONLY}`,
      resolve: (c) => `/ping/${c.pingKey}`,
    }),
    pings: t.connection(
      {
        type: PingRef,
        description: 'What it reported, newest first.',
        args: { kinds: t.arg({ type: [PingKindEnum], description: 'Only pings of these kinds.' }) },
        resolve: async (check, args, ctx) => toConnection(await listPings(ctx.app.db, check.id, args.kinds ?? undefined, pageArgs(args))),
      },
      ...pageOf('pings'),
    ),
  }),
});

PingRef.implement({
  description: 'One report from a check\'s script.',
  fields: (t) => ({
    check: t.field({ type: CheckRef, description: 'The check it reported for.', resolve: (p) => p.checkId }),
    kind: t.field({ type: PingKindEnum, description: 'What it reported.', resolve: (p) => p.kind }),
    exitCode: t.exposeInt('exitCode', { nullable: true, description: 'The exit code sent with it, if any.' }),
    body: t.exposeString('body', { nullable: true, description: 'What was sent with it (output, a message): the first 100 KiB.' }),
    bodyTruncated: t.exposeBoolean('bodyTruncated', { description: 'Whether the body was longer than 100 KiB and cut.' }),
    runKey: t.exposeString('runKey', { nullable: true, description: 'The key pairing a START with its finish.' }),
    durationMs: t.exposeInt('durationMs', { nullable: true, description: 'For a finish paired with a START: how long the run took.' }),
    source: t.exposeString('source', { description: 'How it arrived: `graphql`, `http` (the ping URL) or a REST dialect.' }),
    remoteAddr: t.exposeString('remoteAddr', { nullable: true, description: 'The address it came from.' }),
    userAgent: t.exposeString('userAgent', { nullable: true, description: 'The User-Agent it came with.' }),
    receivedAt: t.expose('receivedAt', { type: 'DateTime', description: 'When it happened: when it arrived, or the `at` it was sent with.' }),
  }),
});

const CheckOrderEnum = builder.enumType('CheckOrder', {
  description: 'The order of a list of checks.',
  values: {
    NAME: { value: 'name', description: 'By name, ignoring case.' },
    NUMBER: { value: 'number', description: 'By number, oldest first (the order of the Scripto API).' },
  } as const,
});

const CheckFilterInput = builder.inputType('CheckFilter', {
  description: 'Narrows a list of checks; every field given must match.',
  fields: (t) => ({
    states: t.field({ type: [CheckStateEnum], description: 'Checks in any of these states.' }),
    server: t.string({ description: 'Checks on this server (exact, ignoring case; "" for none).' }),
  }),
});

builder.queryFields((t) => ({
  checks: t.connection(
    {
      type: CheckRef,
      description: 'Checks, by name (or by number).',
      args: {
        search: t.arg.string({ description: 'Text in the name (case-insensitive).' }),
        filter: t.arg({ type: CheckFilterInput, description: 'Only the checks that match.' }),
        orderBy: t.arg({ type: CheckOrderEnum, description: 'The order; NAME unless given.' }),
        skip: t.arg.int({ description: 'Pass over this many checks before the page (0–100,000), for clients that page by number (Scripto); cursors are the way through long lists.' }),
      },
      resolve: async (_root, args, ctx) => {
        const f = args.filter ?? {};
        const page = await listChecks(
          ctx.app.db,
          { search: args.search ?? undefined, states: f.states ?? undefined, server: f.server ?? undefined },
          { ...pageArgs(args), skip: args.skip },
          args.orderBy ?? 'name',
        );
        return toConnection(page);
      },
    },
    ...pageOf('checks'),
  ),
  check: t.field({
    type: CheckRef,
    nullable: true,
    description: 'One check by id or by number (Scripto\'s id); null when there is none.',
    args: {
      id: t.arg.id({ description: 'Its global id.' }),
      number: t.arg.int({ description: 'Its number.' }),
    },
    resolve: async (_root, args, ctx) => {
      if ((args.id == null) === (args.number == null)) {
        throw new ValidationError('Give either id or number (exactly one).', [{ path: ['id'], message: 'Give either id or number.' }]);
      }
      const check = args.id != null ? await findCheckById(ctx.app.db, decodeId('Check', args.id, 'id')) : await findCheckByNumber(ctx.app.db, args.number!);
      return check ?? null;
    },
  }),
}));

const EXPECTED = 'Give periodSeconds or cron (with timezone), not both.';

const CreateCheckInput = builder.inputType('CreateCheckInput', {
  description: `A new check. ${EXPECTED} With neither, it expects a ping a day.`,
  fields: (t) => ({
    name: t.string({ required: true, description: 'What the script is called: 1–140 characters, unique (ignoring case) per server.' }),
    server: t.string({ description: 'The machine it runs on: at most 255 characters; "" (the default) for none.' }),
    description: t.string({ description: 'Notes for people: at most 10,000 characters.' }),
    periodSeconds: t.int({ description: 'Expect a ping this many seconds after the last (1 s to 366 days).' }),
    cron: t.string({ description: 'Expect a ping at the next occurrence of this cron expression after the last (5 fields, or 6 with seconds first).' }),
    timezone: t.string({ description: 'The IANA timezone the cron is read in; UTC unless given.' }),
    graceSeconds: t.int({ description: 'How long past the expected time before it is down (0 to 366 days); 3600 unless given.' }),
  }),
});

const UpdateCheckInput = builder.inputType('UpdateCheckInput', {
  description: `Only the fields given change. ${EXPECTED} Giving one switches the check to that kind.`,
  fields: (t) => ({
    id: t.id({ required: true, description: 'The check to change.' }),
    name: t.string({ description: '1–140 characters, unique (ignoring case) per server.' }),
    server: t.string({ description: 'At most 255 characters; "" for none.' }),
    description: t.string({ description: 'At most 10,000 characters.' }),
    periodSeconds: t.int({ description: 'Switches to (or changes) a period: 1 s to 366 days.' }),
    cron: t.string({ description: 'Switches to (or changes) a cron expression.' }),
    timezone: t.string({ description: 'The IANA timezone the cron is read in.' }),
    graceSeconds: t.int({ description: '0 to 366 days.' }),
  }),
});

const RecordPingInput = builder.inputType('RecordPingInput', {
  description: 'One report for a check, named by checkId or pingKey (exactly one).',
  fields: (t) => ({
    checkId: t.id({ description: 'The check, by id.' }),
    pingKey: t.string({ description: 'The check, by its ping key.' }),
    kind: t.field({ type: PingKindEnum, required: true, description: 'What happened.' }),
    exitCode: t.int({ description: 'Required with EXIT (0 is a success); kept with the other kinds.' }),
    body: t.string({ description: 'Output or a message: the first 100 KiB is kept, the rest dropped (never refused).' }),
    runKey: t.string({ description: 'Up to 140 characters pairing a START with its finish, so the run is timed. Without it a finish pairs with the latest START.' }),
    at: t.field({ type: 'DateTime', description: 'When it happened; now unless given. At most 5 minutes in the future.' }),
  }),
});

const CheckInInput = builder.inputType('CheckInInput', {
  description: 'A script reporting in by itself (Scripto): creates the check, or changes the check with that number; a report with `success` or `at` is recorded as a ping.',
  fields: (t) => ({
    number: t.int({ description: 'The check to report for, by number; leave it out to create a check.' }),
    name: t.string({ description: 'The script\'s name (required to create): 1–140 characters, unique (ignoring case) per server.' }),
    server: t.string({ description: 'The machine it runs on: at most 255 characters.' }),
    periodSeconds: t.int({ description: 'Expect a report this many seconds after the last (1 s to 366 days).' }),
    success: t.boolean({ description: 'Whether the run succeeded; the check\'s last outcome (or success) when only `at` is given.' }),
    at: t.field({ type: 'DateTime', description: 'When the script ran; now unless given. At most 5 minutes in the future.' }),
  }),
});

/** Tells `checkUpdated` subscribers; call after the change has committed (also from the ping URL and the sweeper). */
export function publishCheck(ctx: Pick<Context, 'app'>, id: string, kind: CheckChangeKind): void {
  ctx.app.pubsub.publish('checkUpdated', { id, kind, deleted: kind === 'DELETED' });
}


builder.mutationFields((t) => ({
  createCheck: t.withAuth({ role: 'admin' }).field({
    type: CheckRef,
    description: 'Creates a check. Admins only.',
    errors: outcome('the new check', [ValidationError, ConflictError]),
    args: { input: t.arg({ type: CreateCheckInput, required: true, description: 'The new check.' }) },
    resolve: async (_root, { input }, ctx) => {
      const check = await createCheck(changeDeps(ctx), input);
      publishCheck(ctx, check.id, 'CREATED');
      return check;
    },
  }),
  updateCheck: t.withAuth({ role: 'admin' }).field({
    type: CheckRef,
    description: 'Changes a check; new timing moves its due time at once. Admins only.',
    errors: outcome('the check as changed', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: UpdateCheckInput, required: true, description: 'The check and what changes.' }) },
    resolve: async (_root, { input }, ctx) => {
      const check = await updateCheck(changeDeps(ctx), { ...input, id: decodeId('Check', input.id, 'input.id') });
      publishCheck(ctx, check.id, 'UPDATED');
      return check;
    },
  }),
  deleteCheck: t.withAuth({ role: 'admin' }).field({
    type: 'ID',
    description: 'Deletes a check and its pings, and returns its id. Runs reported for it stay. Admins only.',
    errors: outcome('the global id of the deleted check', [ValidationError, NotFoundError]),
    args: { id: t.arg.id({ required: true, description: 'The check to delete.' }) },
    resolve: async (_root, { id }, ctx) => {
      const check = await deleteCheck(changeDeps(ctx), decodeId('Check', id, 'id'));
      publishCheck(ctx, check.id, 'DELETED');
      return encodeGlobalID('Check', check.id);
    },
  }),
  pauseCheck: t.withAuth({ role: 'operator' }).field({
    type: CheckRef,
    description: 'Pauses a check: it is PAUSED, expects nothing and stays so (pings are still recorded) until resumed. Pausing a paused check changes nothing.',
    errors: outcome('the paused check', [ValidationError, NotFoundError]),
    args: { id: t.arg.id({ required: true, description: 'The check to pause.' }) },
    resolve: async (_root, { id }, ctx) => {
      const { check, changed } = await pauseCheck(changeDeps(ctx), decodeId('Check', id, 'id'));
      if (changed) publishCheck(ctx, check.id, 'PAUSED');
      return check;
    },
  }),
  resumeCheck: t.withAuth({ role: 'operator' }).field({
    type: CheckRef,
    description: 'Resumes a paused check: it is NEW, expecting nothing, until its next ping. Resuming a check that is not paused changes nothing.',
    errors: outcome('the resumed check', [ValidationError, NotFoundError]),
    args: { id: t.arg.id({ required: true, description: 'The check to resume.' }) },
    resolve: async (_root, { id }, ctx) => {
      const { check, changed } = await resumeCheck(changeDeps(ctx), decodeId('Check', id, 'id'));
      if (changed) publishCheck(ctx, check.id, 'RESUMED');
      return check;
    },
  }),
  rotatePingKey: t.withAuth({ role: 'admin' }).field({
    type: CheckRef,
    description: 'Gives a check a new ping key (see `pingKey`); the old ping URL stops working at once. Admins only.',
    errors: outcome('the check with its new ping key', [ValidationError, NotFoundError]),
    args: { id: t.arg.id({ required: true, description: 'The check.' }) },
    resolve: async (_root, { id }, ctx) => {
      const check = await rotatePingKey(changeDeps(ctx), decodeId('Check', id, 'id'));
      publishCheck(ctx, check.id, 'PING_KEY_ROTATED');
      return check;
    },
  }),
  checkIn: t.field({
    // Not the Mutation type's "signed in": an admitted anonymous check-in passes too.
    skipTypeScopes: true,
    authScopes: { checkin: true },
    type: CheckRef,
    description:
      'A script reports in: creates its check (without `number`) or changes the check with that number, and records the report as a ping. Operators and up, or anyone from the networks in `options.anonymousCheckinNetworks` through the REST check-in routes.',
    errors: outcome('the check after the report', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: CheckInInput, required: true, description: 'The report.' }) },
    resolve: async (_root, { input }, ctx) => {
      const check = await submitCheckIn(changeDeps(ctx), { ...input, source: ctx.restDialect ?? 'graphql', remoteAddr: ctx.ip, userAgent: ctx.userAgent });
      publishCheck(ctx, check.id, input.number == null ? 'CREATED' : 'PINGED');
      return check;
    },
  }),
  recordPing: t.withAuth({ role: 'operator' }).field({
    type: PingRef,
    description: 'Records a report for a check and applies it: SUCCESS (or EXIT 0) makes it up, FAIL (or another exit code) down. Operators and up; scripts without an account use the ping URL.',
    errors: outcome('the ping as recorded (its `check` shows the effect)', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: RecordPingInput, required: true, description: 'The report.' }) },
    resolve: async (_root, { input }, ctx) => {
      const { ping, check } = await recordPing(changeDeps(ctx), {
        ...input,
        checkId: input.checkId == null ? null : decodeId('Check', input.checkId, 'input.checkId'),
        source: 'graphql',
        remoteAddr: ctx.ip,
        userAgent: ctx.userAgent,
      });
      publishCheck(ctx, check.id, 'PINGED');
      return ping;
    },
  }),
}));

const CheckChangeKindEnum = builder.enumType('CheckChangeKind', {
  description: 'What happened to a check.',
  values: {
    CREATED: { description: 'It was created.' },
    UPDATED: { description: 'Its settings changed.' },
    DELETED: { description: 'It was deleted.' },
    PAUSED: { description: 'It was paused.' },
    RESUMED: { description: 'It was resumed.' },
    PING_KEY_ROTATED: { description: 'It was given a new ping key.' },
    PINGED: { description: 'A ping arrived (its state may have changed).' },
    STATE_CHANGED: { description: 'Time passed its expected or due time: it went late or down.' },
  } as const,
});

interface CheckChange {
  kind: CheckChangeKind;
  id: string;
}

const CheckChangeRef = builder.objectRef<CheckChange>('CheckChange').implement({
  description: 'A check was created, changed, paused, resumed, pinged or deleted, or its state changed.',
  fields: (t) => ({
    kind: t.field({ type: CheckChangeKindEnum, description: 'What happened.', resolve: (change) => change.kind }),
    checkId: t.id({ description: 'The global id of the check.', resolve: (change) => encodeGlobalID('Check', change.id) }),
    check: t.field({
      type: CheckRef,
      nullable: true,
      description: 'The check as it is now; null when it was deleted.',
      resolve: (change) => (change.kind === 'DELETED' ? null : change.id),
    }),
  }),
});

builder.subscriptionFields((t) => ({
  checkUpdated: t.field({
    type: CheckChangeRef,
    description: 'Fires on every change to a check: settings, pause, resume, each ping, and state changes over time.',
    args: { id: t.arg.id({ description: 'Only this check.' }) },
    subscribe: (_root, args, ctx) => {
      const only = args.id == null ? undefined : decodeId('Check', args.id, 'id');
      const all = ctx.app.pubsub.subscribe('checkUpdated');
      return only ? pipe(all, filter((payload) => payload.id === only)) : all;
    },
    resolve: (payload: { id: string; kind: CheckChangeKind; deleted: boolean }, _args, ctx) => {
      // A subscription keeps one context (and its DataLoader cache) for all its events: forget
      // the check's earlier version so `check` is loaded as it is now.
      CheckRef.getDataloader(ctx).clear(payload.id);
      return { id: payload.id, kind: payload.deleted ? 'DELETED' : payload.kind };
    },
  }),
}));
