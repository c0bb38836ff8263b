/**
 * Deliveries: one alert to one channel, recorded before it is sent and retried until it is
 * delivered or runs out of attempts. Unique on (rule, event, channel, kind, reminder), so an event is
 * alerted once however many instances evaluate it; inserts that would repeat one do nothing.
 */
import { sql, type Selectable } from 'kysely';
import type { Db } from './database';
import type { AlertDeliveriesTable, AlertKind, DeliveryState, SubjectType } from './notification-tables';
import { paginateAs, type Page, type PageArgs } from './pagination';

export interface Delivery {
  id: string;
  ruleId: string | null;
  ruleName: string | null;
  channelId: string | null;
  channelName: string;
  eventId: string | null;
  /** 0 for an event's own alert; 1, 2, … for the reminders after it. */
  reminder: number;
  kind: AlertKind;
  subjectType: SubjectType | null;
  subjectId: string | null;
  subjectName: string | null;
  text: string;
  payload: Record<string, unknown>;
  state: DeliveryState;
  /** The maintenance window or snooze that silenced it. */
  silencedBy: string | null;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: Date;
  createdAt: Date;
  lastAttemptAt: Date | null;
  deliveredAt: Date | null;
}

export type NewDelivery = Pick<
  Delivery,
  'ruleId' | 'ruleName' | 'channelId' | 'channelName' | 'eventId' | 'reminder' | 'kind' | 'subjectType' | 'subjectId' | 'subjectName' | 'text' | 'payload' | 'silencedBy'
> & {
  /** Not sent by the poll before this (a test alert, sent at once by the instance that recorded it). */
  notBefore?: Date;
};

function toDelivery(row: Selectable<AlertDeliveriesTable>): Delivery {
  return {
    id: row.id,
    ruleId: row.rule_id,
    ruleName: row.rule_name,
    channelId: row.channel_id,
    channelName: row.channel_name,
    eventId: row.event_id,
    reminder: row.reminder,
    kind: row.kind,
    subjectType: row.subject_type,
    subjectId: row.subject_id,
    subjectName: row.subject_name,
    text: row.text,
    payload: row.payload,
    state: row.state,
    silencedBy: row.silenced_by,
    attempts: row.attempts,
    lastError: row.last_error,
    nextAttemptAt: row.next_attempt_at,
    createdAt: row.created_at,
    lastAttemptAt: row.last_attempt_at,
    deliveredAt: row.delivered_at,
  };
}

/** Inserts deliveries, skipping any already recorded for the same (rule, event, channel, reminder). */
export async function insertDeliveries(db: Db, deliveries: readonly NewDelivery[]): Promise<Delivery[]> {
  if (deliveries.length === 0) return [];
  const rows = await db
    .insertInto('alert_deliveries')
    .values(
      deliveries.map((d) => ({
        rule_id: d.ruleId,
        rule_name: d.ruleName,
        channel_id: d.channelId,
        channel_name: d.channelName,
        event_id: d.eventId,
        reminder: d.reminder,
        kind: d.kind,
        subject_type: d.subjectType,
        subject_id: d.subjectId,
        subject_name: d.subjectName,
        text: d.text,
        payload: JSON.stringify(d.payload),
        state: d.silencedBy ? ('silenced' as const) : ('pending' as const),
        silenced_by: d.silencedBy,
        ...(d.notBefore && { next_attempt_at: d.notBefore }),
      })),
    )
    .onConflict((oc) => oc.columns(['rule_id', 'event_id', 'channel_id', 'kind', 'reminder']).doNothing())
    .returningAll()
    .execute();
  return rows.map(toDelivery);
}

/**
 * Takes up to `limit` pending deliveries that are due (or `ids`, due or not, if never tried), counting an attempt and
 * pushing their next attempt `leaseMs` away so no other instance takes them while they are
 * being sent; an instance that dies mid-send leaves them to be retried after the lease.
 */
export async function claimDueDeliveries(db: Db, options: { limit: number; leaseMs: number; ids?: readonly string[] }): Promise<Delivery[]> {
  const { rows } = await sql<Selectable<AlertDeliveriesTable>>`
    update alert_deliveries d set
      attempts = d.attempts + 1,
      last_attempt_at = now(),
      next_attempt_at = now() + ${options.leaseMs} * interval '1 millisecond',
      updated_at = now()
    where d.id = any(array(
      select id from alert_deliveries
      where state = 'pending'
        and ${options.ids ? sql`id = any(${sql.val([...options.ids])}::uuid[]) and attempts = 0` : sql`next_attempt_at <= now()`}
      order by next_attempt_at
      limit ${options.limit}
      for update skip locked))
    returning d.*`.execute(db);
  return rows.map(toDelivery);
}

export async function markDelivered(db: Db, id: string): Promise<void> {
  await db
    .updateTable('alert_deliveries')
    .set({ state: 'delivered', delivered_at: new Date(), last_error: null, updated_at: new Date() })
    .where('id', '=', id)
    .where('state', '=', 'pending')
    .execute();
}

/** Records a failed attempt: retried after `retryInMs`, or failed for good when that is null. */
export async function markAttemptFailed(db: Db, id: string, error: string, retryInMs: number | null): Promise<void> {
  await db
    .updateTable('alert_deliveries')
    .set({
      last_error: error,
      updated_at: new Date(),
      ...(retryInMs === null ? { state: 'failed' as const } : { next_attempt_at: new Date(Date.now() + retryInMs) }),
    })
    .where('id', '=', id)
    .where('state', '=', 'pending')
    .execute();
}

export async function findDeliveriesByIds(db: Db, ids: readonly string[]): Promise<Delivery[]> {
  if (ids.length === 0) return [];
  return (await db.selectFrom('alert_deliveries').selectAll().where('id', 'in', ids).execute()).map(toDelivery);
}

export interface DeliveryFilter {
  channelId?: string;
  ruleId?: string;
  states?: DeliveryState[];
  kinds?: AlertKind[];
  eventId?: string;
}

export async function listDeliveries(db: Db, filter: DeliveryFilter, args: PageArgs): Promise<Page<Delivery>> {
  let query = db.selectFrom('alert_deliveries').selectAll();
  if (filter.channelId) query = query.where('channel_id', '=', filter.channelId);
  if (filter.ruleId) query = query.where('rule_id', '=', filter.ruleId);
  if (filter.eventId) query = query.where('event_id', '=', filter.eventId);
  if (filter.states?.length) query = query.where('state', 'in', filter.states);
  if (filter.kinds?.length) query = query.where('kind', 'in', filter.kinds);
  return paginateAs(query, args, { expression: 'alert_deliveries.seq', type: 'bigint', direction: 'desc', id: 'alert_deliveries.id' }, toDelivery);
}
