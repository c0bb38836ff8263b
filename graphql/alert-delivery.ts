/** Deliveries in GraphQL: the AlertDelivery type and the `deliveries` list (viewers and up). */
import { findDeliveriesByIds, listDeliveries, type Delivery } from '../db/alert-delivery.repository';
import { AlertRuleRef } from './alert-rule';
import { AlertSubjectTypeEnum, subjectGlobalId } from './alert-subject';
import { builder } from './builder';
import { pageArgs, pageOf, toConnection } from './connection';
import { EventRef } from './event';
import { decodeId } from './ids';
import { NotificationChannelRef } from './notification-channel';

export const DeliveryRef = builder.loadableNodeRef('AlertDelivery', {
  id: { resolve: (value: Delivery) => value.id },
  load: (ids: string[], ctx) => findDeliveriesByIds(ctx.app.db, ids),
  sort: (value) => value.id,
});

const DeliveryStateEnum = builder.enumType('AlertDeliveryState', {
  description: 'Where a delivery is.',
  values: {
    PENDING: { value: 'pending', description: 'Not sent yet, or being retried (see `nextAttemptAt`).' },
    DELIVERED: { value: 'delivered', description: 'The channel took it.' },
    FAILED: { value: 'failed', description: 'Every attempt failed (`lastError` says why); it will not be retried.' },
    SILENCED: { value: 'silenced', description: 'A maintenance window or snooze covered it: recorded, not sent.' },
  } as const,
});

export const AlertKindEnum = builder.enumType('AlertKind', {
  description: 'What an alert says.',
  values: {
    FAILURE: { value: 'failure', description: 'A run failed, timed out or was lost (after the rule\'s number in a row), or a check went down.' },
    RECOVERY: { value: 'recovery', description: 'It works again after an alert.' },
    LATE: { value: 'late', description: 'A check missed its expected check-in.' },
    SLOW: { value: 'slow', description: 'A run took longer than the rule\'s multiple of its script\'s usual (p95) duration.' },
    REMINDER: { value: 'reminder', description: 'Still failing, the rule\'s interval after the last notice.' },
    TEST: { value: 'test', description: 'A test alert (testChannel).' },
  } as const,
});

DeliveryRef.implement({
  description: 'One alert sent (or to be sent, or silenced) through one channel, with how it went.',
  fields: (t) => ({
    kind: t.field({ type: AlertKindEnum, description: 'What the alert says.', resolve: (d) => d.kind }),
    state: t.field({ type: DeliveryStateEnum, description: 'Where it is.', resolve: (d) => d.state }),
    text: t.exposeString('text', { description: 'The one line for people (the email subject, Slack\'s text).' }),
    payload: t.field({ type: 'JSON', description: 'The JSON the channel is sent.', resolve: (d) => d.payload }),
    channel: t.field({ type: NotificationChannelRef, nullable: true, description: 'The channel.', resolve: (d) => d.channelId }),
    channelName: t.exposeString('channelName', { description: 'The channel\'s name at the time.' }),
    rule: t.field({ type: AlertRuleRef, nullable: true, description: 'The rule that raised it; null for a test or a deleted rule.', resolve: (d) => d.ruleId }),
    ruleName: t.exposeString('ruleName', { nullable: true, description: 'The rule\'s name at the time.' }),
    event: t.field({ type: EventRef, nullable: true, description: 'The audit event it is about (for a reminder, the one first alerted).', resolve: (d) => d.eventId }),
    reminder: t.exposeInt('reminder', { description: '0 for an event\'s own alert; 1, 2, … for reminders.' }),
    subjectType: t.field({ type: AlertSubjectTypeEnum, nullable: true, description: 'What it is about.', resolve: (d) => d.subjectType }),
    subjectId: t.id({ nullable: true, description: 'The global id of the script, schedule or check.', resolve: (d) => subjectGlobalId(d.subjectType, d.subjectId) }),
    subjectName: t.exposeString('subjectName', { nullable: true, description: 'Its name at the time.' }),
    silencedBy: t.id({
      nullable: true,
      description: 'The maintenance window or snooze that silenced it, as a bare UUID (accepted wherever their ids are).',
      resolve: (d) => d.silencedBy,
    }),
    attempts: t.exposeInt('attempts', { description: 'How many times sending it was tried.' }),
    lastError: t.exposeString('lastError', { nullable: true, description: 'Why the last attempt failed.' }),
    nextAttemptAt: t.expose('nextAttemptAt', { type: 'DateTime', description: 'When it is (or was) next tried, while PENDING.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was recorded.' }),
    lastAttemptAt: t.expose('lastAttemptAt', { type: 'DateTime', nullable: true, description: 'When it was last tried.' }),
    deliveredAt: t.expose('deliveredAt', { type: 'DateTime', nullable: true, description: 'When the channel took it.' }),
  }),
});

const DeliveryFilterInput = builder.inputType('AlertDeliveryFilter', {
  description: 'Narrows the deliveries; every field given must match.',
  fields: (t) => ({
    channelId: t.id({ description: 'Through this channel.' }),
    ruleId: t.id({ description: 'Raised by this rule.' }),
    states: t.field({ type: [DeliveryStateEnum], description: 'In any of these states.' }),
    kinds: t.field({ type: [AlertKindEnum], description: 'Of any of these kinds.' }),
  }),
});

builder.queryFields((t) => ({
  deliveries: t.connection(
    {
      type: DeliveryRef,
      description: 'Alert deliveries, newest first (those raised together, in the order they were raised).',
      args: { filter: t.arg({ type: DeliveryFilterInput, description: 'Which deliveries; all when omitted.' }) },
      resolve: async (_root, args, ctx) => {
        const f = args.filter ?? {};
        const page = await listDeliveries(
          ctx.app.db,
          {
            channelId: f.channelId ? decodeId('NotificationChannel', f.channelId, 'filter.channelId') : undefined,
            ruleId: f.ruleId ? decodeId('AlertRule', f.ruleId, 'filter.ruleId') : undefined,
            states: f.states ?? undefined,
            kinds: f.kinds ?? undefined,
          },
          pageArgs(args),
        );
        return toConnection(page);
      },
    },
    ...pageOf('alert deliveries'),
  ),
}));
