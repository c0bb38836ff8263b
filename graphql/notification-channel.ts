/**
 * Notification channels in GraphQL: the NotificationChannel type (its secrets are write-only and
 * never shown: only which are set), the `notificationChannels` list, admin mutations, and
 * `testChannel`, which sends a test alert and answers with its delivery.
 */
import { ConflictError, NotFoundError, ValidationError } from '../core/errors';
import { createChannel, deleteChannel, testChannel, updateChannel, type ChannelInput } from '../core/notification-channel.service';
import { findDeliveriesByIds } from '../db/alert-delivery.repository';
import {
  findChannelsByIds,
  listChannels,
  type CommandSettings,
  type EmailSettings,
  type NotificationChannel,
  type WebhookSettings,
} from '../db/notification-channel.repository';
import { DeliveryRef } from './alert-delivery';
import { builder } from './builder';
import { changeDeps } from './change';
import { pageArgs, pageOf, toConnection } from './connection';
import { outcome } from './errors';
import { decodeId, encodeGlobalID } from './ids';

export const NotificationChannelRef = builder.loadableNodeRef('NotificationChannel', {
  id: { resolve: (value: NotificationChannel) => value.id },
  load: (ids: string[], ctx) => findChannelsByIds(ctx.app.db, ids),
  sort: (value) => value.id,
});

const ChannelKindEnum = builder.enumType('NotificationChannelKind', {
  description: 'How a channel delivers alerts.',
  values: {
    WEBHOOK: { value: 'webhook', description: 'POSTs the alert as JSON (with a Slack-compatible `text`).' },
    EMAIL: { value: 'email', description: 'Sends an email over SMTP.' },
    COMMAND: { value: 'command', description: 'Runs a program on the server, the alert on its stdin.' },
  } as const,
});

const EmailTlsEnum = builder.enumType('EmailTls', {
  description: 'How the SMTP connection is secured.',
  values: {
    NONE: { value: 'none', description: 'Plain SMTP (a relay on a trusted network); usual port 25.' },
    STARTTLS: { value: 'starttls', description: 'Plain, then upgraded with STARTTLS, which the server must offer; usual port 587.' },
    TLS: { value: 'tls', description: 'TLS from the first byte (SMTPS); usual port 465.' },
  } as const,
});

const WebhookSettingsRef = builder.objectRef<WebhookSettings>('WebhookSettings').implement({
  description: 'Where a webhook channel posts. The URL itself is secret (its path or query is often the token): only its origin is shown.',
  fields: (t) => ({
    urlOrigin: t.exposeString('urlOrigin', { description: 'The scheme, host and port of the URL, e.g. https://hooks.slack.com.' }),
    headerNames: t.exposeStringList('headerNames', { description: 'The names of the extra headers sent (their values are secret).' }),
  }),
});

const EmailSettingsRef = builder.objectRef<EmailSettings>('EmailSettings').implement({
  description: 'The SMTP server and addresses of an email channel (the password is secret).',
  fields: (t) => ({
    host: t.exposeString('host', { description: 'The SMTP server.' }),
    port: t.exposeInt('port', { description: 'Its port.' }),
    tls: t.field({ type: EmailTlsEnum, description: 'How the connection is secured.', resolve: (s) => s.tls }),
    username: t.exposeString('username', { nullable: true, description: 'Who signs in; null to send without signing in.' }),
    from: t.exposeString('from', { description: 'The sender address.' }),
    to: t.exposeStringList('to', { description: 'The recipients.' }),
  }),
});

const CommandSettingsRef = builder.objectRef<CommandSettings>('CommandSettings').implement({
  description: 'The program a command channel runs (without a shell), the alert as JSON on its stdin and in RUNBOARD_ALERT_* variables.',
  fields: (t) => ({
    executable: t.exposeString('executable', { description: 'Its absolute path.' }),
    args: t.exposeStringList('args', { description: 'Its arguments, passed as they are.' }),
  }),
});

NotificationChannelRef.implement({
  description: 'Where alerts go: a webhook, an email address list or a command. Secrets are stored encrypted and never shown.',
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Unique (ignoring case), 1–140 characters.' }),
    kind: t.field({ type: ChannelKindEnum, description: 'How it delivers.', resolve: (c) => c.kind }),
    enabled: t.exposeBoolean('enabled', { description: 'Whether alerts go out through it; a disabled channel gets no new deliveries.' }),
    webhook: t.field({ type: WebhookSettingsRef, nullable: true, description: 'For WEBHOOK channels.', resolve: (c) => (c.kind === 'webhook' ? c.webhook : null) }),
    email: t.field({ type: EmailSettingsRef, nullable: true, description: 'For EMAIL channels.', resolve: (c) => (c.kind === 'email' ? c.email : null) }),
    command: t.field({ type: CommandSettingsRef, nullable: true, description: 'For COMMAND channels.', resolve: (c) => (c.kind === 'command' ? c.command : null) }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When it was last changed.' }),
  }),
});

builder.queryFields((t) => ({
  notificationChannels: t.connection(
    {
      type: NotificationChannelRef,
      description: 'Notification channels, by name.',
      args: { search: t.arg.string({ description: 'Text in the name, ignoring case.' }) },
      resolve: async (_root, args, ctx) => toConnection(await listChannels(ctx.app.db, { search: args.search ?? undefined }, pageArgs(args))),
    },
    ...pageOf('notification channels'),
  ),
}));

const HeaderInput = builder.inputType('WebhookHeaderInput', {
  description: 'An extra header a webhook sends. To keep a stored value, send the name without a value.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'The header name, e.g. Authorization.' }),
    value: t.string({ description: 'Its value (write-only, at most 4096 characters); omit to keep the stored one.' }),
  }),
});

const WebhookInput = builder.inputType('WebhookChannelInput', {
  description: 'A webhook channel: Runboard POSTs each alert as JSON to the URL.',
  fields: (t) => ({
    url: t.string({ description: 'The http(s) URL (write-only: stored encrypted, never shown). Required to create; omit to keep the stored one.' }),
    headers: t.field({ type: [HeaderInput], description: 'Extra headers (at most 20); replaces the list when given.' }),
  }),
});

const EmailInput = builder.inputType('EmailChannelInput', {
  description: 'An email channel: each alert is a message sent over SMTP.',
  fields: (t) => ({
    host: t.string({ required: true, description: 'The SMTP server.' }),
    port: t.int({ description: 'Its port; 25, 587 or 465 by `tls` unless given.' }),
    tls: t.field({ type: EmailTlsEnum, description: 'How the connection is secured; STARTTLS unless given.' }),
    username: t.string({ description: 'Who signs in; omit or "" to send without signing in.' }),
    password: t.string({ description: 'The password (write-only: stored encrypted, never shown). Omit to keep the stored one; "" clears it.' }),
    from: t.string({ required: true, description: 'The sender address.' }),
    to: t.stringList({ required: true, description: 'The recipients (1–50 addresses).' }),
  }),
});

const CommandInput = builder.inputType('CommandChannelInput', {
  description: 'A command channel: the program runs on the server (no shell) with the alert as JSON on stdin and in RUNBOARD_ALERT_* variables; it must exit 0 within RUNBOARD_ALERT_TIMEOUT.',
  fields: (t) => ({
    executable: t.string({ required: true, description: 'The absolute path of the program.' }),
    args: t.stringList({ description: 'Its arguments, passed as they are (no shell). Default none.' }),
  }),
});

const KIND_FIELDS = 'Give exactly one of webhook, email or command.';

const CreateChannelInput = builder.inputType('CreateNotificationChannelInput', {
  description: `A new channel. ${KIND_FIELDS}`,
  fields: (t) => ({
    name: t.string({ required: true, description: 'Unique (ignoring case), 1–140 characters.' }),
    enabled: t.boolean({ description: 'Whether alerts go out through it. Default true.' }),
    webhook: t.field({ type: WebhookInput, description: 'Make it a webhook.' }),
    email: t.field({ type: EmailInput, description: 'Make it an email channel.' }),
    command: t.field({ type: CommandInput, description: 'Make it a command.' }),
  }),
});

const UpdateChannelInput = builder.inputType('UpdateNotificationChannelInput', {
  description: 'Changes to a channel: only the fields given change. Giving webhook, email or command replaces those settings (secrets omitted are kept, within the same kind).',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The channel to change.' }),
    name: t.string({ description: 'Unique (ignoring case), 1–140 characters.' }),
    enabled: t.boolean({ description: 'Whether alerts go out through it.' }),
    webhook: t.field({ type: WebhookInput, description: 'New webhook settings.' }),
    email: t.field({ type: EmailInput, description: 'New email settings.' }),
    command: t.field({ type: CommandInput, description: 'New command settings.' }),
  }),
});

function toChannelInput(input: Omit<typeof UpdateChannelInput.$inferInput, 'id'>): ChannelInput {
  return {
    name: input.name,
    enabled: input.enabled,
    webhook: input.webhook,
    email: input.email,
    command: input.command,
  };
}

builder.mutationFields((t) => ({
  createNotificationChannel: t.withAuth({ role: 'admin' }).field({
    type: NotificationChannelRef,
    description: 'Creates a notification channel. Admins only.',
    errors: outcome('the new channel', [ValidationError, ConflictError]),
    args: { input: t.arg({ type: CreateChannelInput, required: true, description: 'The new channel.' }) },
    resolve: (_root, { input }, ctx) => createChannel(changeDeps(ctx), ctx.app.secrets, { ...toChannelInput(input), name: input.name }),
  }),
  updateNotificationChannel: t.withAuth({ role: 'admin' }).field({
    type: NotificationChannelRef,
    description: 'Changes a notification channel. Admins only.',
    errors: outcome('the changed channel', [ValidationError, NotFoundError, ConflictError]),
    args: { input: t.arg({ type: UpdateChannelInput, required: true, description: 'The channel and the changes.' }) },
    resolve: (_root, { input }, ctx) => updateChannel(changeDeps(ctx), ctx.app.secrets, decodeId('NotificationChannel', input.id, 'input.id'), toChannelInput(input)),
  }),
  deleteNotificationChannel: t.withAuth({ role: 'admin' }).field({
    type: 'ID',
    description: 'Deletes a channel and its deliveries, and returns its id; rules stop sending to it. Admins only.',
    errors: outcome('the id of the deleted channel', [ValidationError, NotFoundError]),
    args: { id: t.arg.id({ required: true, description: 'The channel to delete.' }) },
    resolve: async (_root, { id }, ctx) => encodeGlobalID('NotificationChannel', (await deleteChannel(changeDeps(ctx), decodeId('NotificationChannel', id, 'id'))).id),
  }),
  testChannel: t.withAuth({ role: 'admin' }).field({
    type: DeliveryRef,
    description:
      'Sends a test alert through a channel (even a disabled one), once, and answers with its delivery: DELIVERED, or FAILED with the reason. On an instance that does not execute (RUNBOARD_EXECUTE=false) it is PENDING until an executing instance sends it. Admins only.',
    errors: outcome('the test delivery', [ValidationError, NotFoundError]),
    args: { id: t.arg.id({ required: true, description: 'The channel to test.' }) },
    resolve: async (_root, { id }, ctx) => {
      const delivery = await testChannel(changeDeps(ctx), decodeId('NotificationChannel', id, 'id'));
      if (!ctx.app.execution?.deliverNow) return delivery;
      await ctx.app.execution.deliverNow(delivery.id);
      return (await findDeliveriesByIds(ctx.app.db, [delivery.id]))[0] ?? delivery;
    },
  }),
}));
