/**
 * Snoozes in GraphQL: silence one rule, or alerts about one subject, or both, until a time.
 * Operators and up create and end them.
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

export const SnoozeRef = builder.loadableNodeRef('Snooze', {
  id: { resolve: (value: Silence) => value.id },
  load: async (ids: string[], ctx) => (await findSilencesByIds(ctx.app.db, ids)).filter((s) => s.kind === 'snooze'),
  sort: (value) => value.id,
});

SnoozeRef.implement({
  description: 'Alerts of one rule and/or about one subject silenced (recorded as SILENCED) from when it was created until a time.',
  fields: (t) => silenceFields(t),
});

builder.queryFields((t) => ({
  snoozes: t.connection(
    {
      type: SnoozeRef,
      description: 'Snoozes, latest ending first.',
      args: { current: t.arg.boolean({ description: 'Only those not yet over (true).' }) },
      resolve: async (_root, args, ctx) => toConnection(await listSilences(ctx.app.db, 'snooze', { includeEnded: args.current ? false : undefined }, pageArgs(args))),
    },
    ...pageOf('snoozes'),
  ),
}));

const SnoozeInput = builder.inputType('SnoozeInput', {
  description: 'What to snooze (a rule, a subject, or a rule for one subject) and until when.',
  fields: (t) => ({
    until: t.field({ type: 'DateTime', required: true, description: 'When alerts resume: in the future, at most a year and a day away.' }),
    ruleId: t.id({ description: 'Only this rule\'s alerts.' }),
    subjectId: t.id({ description: 'Only alerts about this script, schedule or check (global id).' }),
    subjectType: t.field({ type: AlertSubjectTypeEnum, description: 'Needed only when subjectId is a bare UUID.' }),
    reason: t.string({ description: 'Why, for people (at most 1000 characters).' }),
  }),
});

builder.mutationFields((t) => ({
  snooze: t.withAuth({ role: 'operator' }).field({
    type: SnoozeRef,
    description: 'Snoozes alerts of a rule and/or about a subject until a time (audited). Operators and up.',
    errors: outcome('the new snooze', [ValidationError, NotFoundError]),
    args: { input: t.arg({ type: SnoozeInput, required: true, description: 'What and until when.' }) },
    resolve: (_root, { input }, ctx) =>
      createSilence(changeDeps(ctx), 'snooze', {
        endsAt: input.until,
        reason: input.reason,
        ruleId: input.ruleId ? decodeId('AlertRule', input.ruleId, 'input.ruleId') : null,
        ...decodeSubject(input.subjectId, input.subjectType),
      }),
  }),
  endSnooze: t.withAuth({ role: 'operator' }).field({
    type: SnoozeRef,
    description: 'Ends a snooze now (audited); alerts go out again at once. Operators and up.',
    errors: outcome('the ended snooze', [ValidationError, NotFoundError]),
    args: { id: t.arg.id({ required: true, description: 'The snooze.' }) },
    resolve: (_root, { id }, ctx) => endSilence(changeDeps(ctx), 'snooze', decodeId('Snooze', id, 'id')),
  }),
}));
