/** Notification channels: where alerts go. Their secrets are sealed and read only to send. */
import type { Selectable } from 'kysely';
import type { Db } from './database';
import type { ChannelKind, NotificationChannelsTable } from './notification-tables';
import { paginateAs, type Page, type PageArgs } from './pagination';
import { containing } from './like';

/** What may be shown of a webhook: the URL's origin only (its path and query may hold a token). */
export interface WebhookSettings {
  urlOrigin: string;
  headerNames: string[];
}

export type EmailTls = 'none' | 'starttls' | 'tls';

export interface EmailSettings {
  host: string;
  port: number;
  tls: EmailTls;
  username: string | null;
  from: string;
  to: string[];
}

export interface CommandSettings {
  executable: string;
  args: string[];
}

export type ChannelSettings =
  | { kind: 'webhook'; webhook: WebhookSettings }
  | { kind: 'email'; email: EmailSettings }
  | { kind: 'command'; command: CommandSettings };

/** The secret part of a channel, sealed at rest as one JSON object. */
export interface ChannelSecrets {
  /** Webhook: the whole URL. */
  url?: string;
  /** Webhook: header values by name. */
  headers?: Record<string, string>;
  /** Email: the SMTP password. */
  password?: string;
}

export type NotificationChannel = {
  id: string;
  name: string;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
} & ChannelSettings;

function toChannel(row: Selectable<NotificationChannelsTable>): NotificationChannel {
  const base = { id: row.id, name: row.name, enabled: row.enabled, createdAt: row.created_at, updatedAt: row.updated_at };
  const settings = row.settings as never;
  if (row.kind === 'webhook') return { ...base, kind: 'webhook', webhook: settings };
  if (row.kind === 'email') return { ...base, kind: 'email', email: settings };
  return { ...base, kind: 'command', command: settings };
}

export function settingsOf(channel: ChannelSettings): Record<string, unknown> {
  if (channel.kind === 'webhook') return { ...channel.webhook };
  if (channel.kind === 'email') return { ...channel.email };
  return { ...channel.command };
}

export interface ChannelRow {
  name: string;
  kind: ChannelKind;
  enabled: boolean;
  settings: Record<string, unknown>;
  secretsSealed: Buffer | null;
}

export async function insertChannel(db: Db, row: ChannelRow): Promise<NotificationChannel> {
  const inserted = await db
    .insertInto('notification_channels')
    .values({ name: row.name, kind: row.kind, enabled: row.enabled, settings: JSON.stringify(row.settings), secrets_sealed: row.secretsSealed })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toChannel(inserted);
}

export async function updateChannelRow(db: Db, id: string, row: ChannelRow): Promise<NotificationChannel> {
  const updated = await db
    .updateTable('notification_channels')
    .set({ name: row.name, kind: row.kind, enabled: row.enabled, settings: JSON.stringify(row.settings), secrets_sealed: row.secretsSealed, updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toChannel(updated);
}

/** A channel with its sealed secrets, locked for a change (or undefined). */
export async function lockChannel(db: Db, id: string): Promise<{ channel: NotificationChannel; secretsSealed: Buffer | null } | undefined> {
  const row = await db.selectFrom('notification_channels').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  return row && { channel: toChannel(row), secretsSealed: row.secrets_sealed };
}

/** Channels with their sealed secrets, to send through. */
export async function findChannelsForSending(db: Db, ids: readonly string[]): Promise<{ channel: NotificationChannel; secretsSealed: Buffer | null }[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('notification_channels').selectAll().where('id', 'in', ids).execute();
  return rows.map((row) => ({ channel: toChannel(row), secretsSealed: row.secrets_sealed }));
}

export async function deleteChannelRow(db: Db, id: string): Promise<void> {
  await db.deleteFrom('notification_channels').where('id', '=', id).execute();
}

export async function findChannelsByIds(db: Db, ids: readonly string[]): Promise<NotificationChannel[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('notification_channels').selectAll().where('id', 'in', ids).execute();
  return rows.map(toChannel);
}

export async function listChannels(db: Db, filter: { search?: string }, args: PageArgs): Promise<Page<NotificationChannel>> {
  let query = db.selectFrom('notification_channels').selectAll();
  if (filter.search) query = query.where('name', 'ilike', containing(filter.search));
  return paginateAs(query, args, { expression: 'lower(notification_channels.name)', type: 'text', direction: 'asc', id: 'notification_channels.id' }, toChannel);
}
