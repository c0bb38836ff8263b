/**
 * Maintenance windows in GraphQL: a time range during which alerts (for everything, or for one
 * subject) are recorded as SILENCED instead of sent. Operators and up create and end them.
 */
import { NotFoundError, ValidationError } from '../core/errors';
import { createSilence, endSilence } from '../core/silence.service';
import { findSilencesByIds, listSilences, type Silence } from '../db/silence.repository';
import { AlertSubjectTypeEnum, decodeSubject } from './alert-subject';
import { builder } from './builder';
import { changeDeps } from './change';
import { pageArgs, pageOf, toConnection } from './connection';
import { outcome } from './errors';
import { decodeId } from './ids';
import { silenceFields } from './silence-fields';

export const MaintenanceWindowRef = builder.loadableNodeRef('MaintenanceWindow', {
  id: { resolve: (value: Silence) => value.id },
  load: async (ids: string[], ctx) => (await findSilencesByIds(ctx.app.db, ids)).filter((s) => s.kind === 'maintenance'),
  sort: (value) => value.id,
});

MaintenanceWindowRef.implement({
  description: 'A time range during which alerts are not sent (they are recorded as SILENCED), for everything or one script, schedule or check.',
  fields: (t) => silenceFields(t),
});

builder.queryFields((t) => ({
  maintenanceWindows: t.connection(
    {
      type: MaintenanceWindowRef,
      description: 'Maintenance windows, latest ending first.',
      args: { current: t.arg.boolean({ description: 'Only those not yet over (true).' }) },
      resolve: async (_root, args, ctx) => toConnection(await listSilences(ctx.app.db, 'maintenance', { includeEnded: args.current ? false : undefined }, pageArgs(args))),
    },
    ...pageOf('maintenance windows'),
  ),
}));

const CreateInput = builder.inputType('CreateMaintenanceWindowInput', {
  description: 'A new maintenance window.',
  fields: (t) => ({
    startsAt: t.field({ type: 'DateTime', description: 'When it starts; now unless given.' }),
    endsAt: t.field({ type: 'DateTime', required: true, description: 'When it ends: after the start, in the future, at most a year and a day later.' }),
    reason: t.string({ description: 'Why, for people (at most 1000 characters).' }),
    subjectId: t.id({ description: 'Only alerts about this script, schedule or check (global id); everything when omitted.' }),
    subjectType: t.field({ type: AlertSubjectTypeEnum, description: 'Needed only when subjectId is a bare UUID.' }),
  }),
});

builder.mutationFields((t) => ({
  createMaintenanceWindow: t.withAuth({ role: 'operator' }).field({
    type: MaintenanceWindowRef,
    description: 'Schedules a maintenance window (audited). Operators and up.',
    errors: outcome('the new maintenance window', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: CreateInput, required: true, description: 'The window.' }) },
    resolve: (_root, { input }, ctx) =>
      createSilence(changeDeps(ctx), 'maintenance', {
        startsAt: input.startsAt,
        endsAt: input.endsAt,
        reason: input.reason,
        ...decodeSubject(input.subjectId, input.subjectType),
      }),
  }),
  endMaintenanceWindow: t.withAuth({ role: 'operator' }).field({
    type: MaintenanceWindowRef,
    description: 'Ends a maintenance window now (audited); alerts go out again at once. Ending one that is over changes nothing. Operators and up.',
    errors: outcome('the ended maintenance window', [ValidationError, NotFoundError]),
    args: { id: t.arg.id({ required: true, description: 'The window.' }) },
    resolve: (_root, { id }, ctx) => endSilence(changeDeps(ctx), 'maintenance', decodeId('MaintenanceWindow', id, 'id')),
  }),
}));
