/** Alert rules in GraphQL: the AlertRule type, the `alertRules` list and the admin mutations. */
import { createRule, deleteRule, updateRule, type AlertRuleInput } from '../core/alert-rule.service';
import { ConflictError, NotFoundError, ValidationError } from '../core/errors';
import { findRulesByIds, listRules, type AlertRule } from '../db/alert-rule.repository';
import { AlertSubjectTypeEnum, decodeSubject, subjectGlobalId } from './alert-subject';
import { builder } from './builder';
import { changeDeps } from './change';
import { pageArgs, pageOf, toConnection } from './connection';
import { outcome } from './errors';
import { decodeId, decodeIds, encodeGlobalID } from './ids';
import { NotificationChannelRef } from './notification-channel';

export const AlertRuleRef = builder.loadableNodeRef('AlertRule', {
  id: { resolve: (value: AlertRule) => value.id },
  load: (ids: string[], ctx) => findRulesByIds(ctx.app.db, ids),
  sort: (value) => value.id,
});

AlertRuleRef.implement({
  description:
    'When to alert, about what, and through which channels. A rule with no subject is a default: it applies to every script and check that no enabled rule names.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Unique (ignoring case), 1–140 characters.' }),
    enabled: t.exposeBoolean('enabled', { description: 'Whether it alerts.' }),
    subjectType: t.field({ type: AlertSubjectTypeEnum, nullable: true, description: 'What it is about; null for every script and check.', resolve: (r) => r.subjectType }),
    subjectId: t.id({ nullable: true, description: 'The global id of its script, schedule or check; null for a default rule.', resolve: (r) => subjectGlobalId(r.subjectType, r.subjectId) }),
    onFailure: t.exposeBoolean('onFailure', { description: 'Alert when a run fails, times out or is lost, or a check goes down (once, until it recovers).' }),
    onRecovery: t.exposeBoolean('onRecovery', { description: 'Alert when it works again after a failure or late alert.' }),
    afterFailures: t.exposeInt('afterFailures', { description: 'Alert a failure only once this many have come in a row (1: the first).' }),
    onLate: t.exposeBoolean('onLate', { description: 'Alert when a check misses its expected check-in (late).' }),
    onSlow: t.exposeBoolean('onSlow', { description: 'Alert when a successful run takes longer than `slowFactor` times the p95 of its script\'s recent successful runs (with at least 5 of them).' }),
    slowFactor: t.exposeFloat('slowFactor', { description: 'How many times the usual (p95) duration is slow. Default 2.' }),
    remindEverySeconds: t.exposeInt('remindEverySeconds', { nullable: true, description: 'While still failing, remind this often; null for never.' }),
    channels: t.field({ type: [NotificationChannelRef], description: 'Where its alerts go.', resolve: (rule) => rule.channelIds }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When it was last changed (which resets what it had counted).' }),
  }),
});

builder.queryFields((t) => ({
  alertRules: t.connection(
    {
      type: AlertRuleRef,
      description: 'Alert rules, by name.',
      args: { search: t.arg.string({ description: 'Text in the name, ignoring case.' }) },
      resolve: async (_root, args, ctx) => toConnection(await listRules(ctx.app.db, { search: args.search ?? undefined }, pageArgs(args))),
    },
    ...pageOf('alert rules'),
  ),
}));

type SchemaTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

function ruleFields(t: PothosSchemaTypes.InputFieldBuilder<SchemaTypes, 'InputObject'>) {
  return {
    enabled: t.boolean({ description: 'Whether it alerts. Default true.' }),
    subjectId: t.id({ description: 'The global id of a script, schedule or check; null or omitted (on create) for a default rule over everything.' }),
    subjectType: t.field({ type: AlertSubjectTypeEnum, description: 'Needed only when subjectId is a bare UUID.' }),
    onFailure: t.boolean({ description: 'Alert on failures. Default true.' }),
    onRecovery: t.boolean({ description: 'Alert on recovery. Default true.' }),
    afterFailures: t.int({ description: 'Failures in a row before alerting (1–1000). Default 1.' }),
    onLate: t.boolean({ description: 'Alert when a check is late. Default false.' }),
    onSlow: t.boolean({ description: 'Alert on slow runs. Default false.' }),
    slowFactor: t.float({ description: 'Slow means longer than this many times the usual p95 (1–1000). Default 2.' }),
    remindEverySeconds: t.int({ description: 'Remind this often while still failing (60 s to 366 days); null for never. Default never.' }),
    channelIds: t.idList({ description: 'Where alerts go; replaces the list when given. Default none.' }),
  };
}

const CreateRuleInput = builder.inputType('CreateAlertRuleInput', {
  description: 'A new alert rule. Only the name is required.',
  fields: (t) => ({ name: t.string({ required: true, description: 'Unique (ignoring case), 1–140 characters.' }), ...ruleFields(t) }),
});

const UpdateRuleInput = builder.inputType('UpdateAlertRuleInput', {
  description: 'Changes to a rule: only the fields given change. Any change resets what the rule had counted.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The rule to change.' }),
    name: t.string({ description: 'Unique (ignoring case), 1–140 characters.' }),
    ...ruleFields(t),
  }),
});

function toRuleInput(input: Omit<typeof UpdateRuleInput.$inferInput, 'id'>): AlertRuleInput {
  const keep = <T>(value: T | null | undefined): T | undefined => (value === null ? undefined : value);
  const subject = decodeSubject(input.subjectId, input.subjectType);
  return {
    name: keep(input.name),
    enabled: keep(input.enabled),
    ...(subject && { subjectType: subject.subjectType, subjectId: subject.subjectId }),
    onFailure: keep(input.onFailure),
    onRecovery: keep(input.onRecovery),
    afterFailures: keep(input.afterFailures),
    onLate: keep(input.onLate),
    onSlow: keep(input.onSlow),
    slowFactor: keep(input.slowFactor),
    remindEverySeconds: input.remindEverySeconds,
    channelIds: input.channelIds ? decodeIds('NotificationChannel', input.channelIds, 'input.channelIds') : undefined,
  };
}

builder.mutationFields((t) => ({
  createAlertRule: t.withAuth({ role: 'admin' }).field({
    type: AlertRuleRef,
    description: 'Creates an alert rule. Admins only.',
    errors: outcome('the new rule', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: CreateRuleInput, required: true, description: 'The new rule.' }) },
    resolve: (_root, { input }, ctx) => createRule(changeDeps(ctx), { ...toRuleInput(input), name: input.name }),
  }),
  updateAlertRule: t.withAuth({ role: 'admin' }).field({
    type: AlertRuleRef,
    description: 'Changes an alert rule. Admins only.',
    errors: outcome('the changed rule', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: UpdateRuleInput, required: true, description: 'The rule and the changes.' }) },
    resolve: (_root, { input }, ctx) => updateRule(changeDeps(ctx), decodeId('AlertRule', input.id, 'input.id'), toRuleInput(input)),
  }),
  deleteAlertRule: t.withAuth({ role: 'admin' }).field({
    type: 'ID',
    description: 'Deletes an alert rule (its deliveries stay, without it) and returns its id. Admins only.',
    errors: outcome('the id of the deleted rule', [ValidationError, NotFoundError]),
    args: { id: t.arg.id({ required: true, description: 'The rule to delete.' }) },
    resolve: async (_root, { id }, ctx) => encodeGlobalID('AlertRule', (await deleteRule(changeDeps(ctx), decodeId('AlertRule', id, 'id'))).id),
  }),
}));
