/** The audit log: one row per change, newest first. */
import type { Selectable } from 'kysely';
import type { Db } from './database';
import { paginateAs, type Page, type PageArgs } from './pagination';
import type { ActorKind, EventsTable } from './schema';
import { containing, startingWith } from './like';

export interface AuditEvent {
  id: string;
  at: Date;
  /** `<object type>.<verb>`, e.g. `host.created`, `user.signed_in`. */
  action: string;
  actorKind: ActorKind;
  actorId: string | null;
  actorName: string;
  objectType: string | null;
  objectId: string | null;
  objectName: string | null;
  summary: string;
  /** `{ before, after }` summaries of the object, or other facts; never a secret value. */
  details: Record<string, unknown>;
  ip: string | null;
}

export type NewEvent = Omit<AuditEvent, 'id' | 'at'>;

function toEvent(row: Selectable<EventsTable>): AuditEvent {
  return {
    id: row.id,
    at: row.at,
    action: row.action,
    actorKind: row.actor_kind,
    actorId: row.actor_id,
    actorName: row.actor_name,
    objectType: row.object_type,
    objectId: row.object_id,
    objectName: row.object_name,
    summary: row.summary,
    details: row.details,
    ip: row.ip,
  };
}

export async function insertEvents(db: Db, events: NewEvent[]): Promise<AuditEvent[]> {
  if (events.length === 0) return [];
  const rows = await db
    .insertInto('events')
    .values(
      events.map((e) => ({
        action: e.action,
        actor_kind: e.actorKind,
        actor_id: e.actorId,
        actor_name: e.actorName,
        object_type: e.objectType,
        object_id: e.objectId,
        object_name: e.objectName,
        summary: e.summary,
        details: JSON.stringify(e.details),
        ip: e.ip,
      })),
    )
    .returningAll()
    .execute();
  return rows.map(toEvent);
}

export async function findEventsByIds(db: Db, ids: readonly string[]): Promise<AuditEvent[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('events').selectAll().where('id', 'in', ids).execute();
  return rows.map(toEvent);
}

export interface EventFilter {
  /** Leave out events about these object types (what the caller may not see). */
  hiddenObjectTypes?: string[];
  /** Exact actions, e.g. ["host.created"]. */
  actions?: string[];
  /** Actions starting with this, e.g. "host." */
  actionPrefix?: string;
  objectType?: string;
  objectId?: string;
  actorName?: string;
  since?: Date;
  until?: Date;
  /** Case-insensitive text in the summary or object name. */
  search?: string;
}

export async function listEvents(db: Db, filter: EventFilter, args: PageArgs): Promise<Page<AuditEvent>> {
  let query = db.selectFrom('events').selectAll();
  if (filter.actions?.length) query = query.where('action', 'in', filter.actions);
  if (filter.actionPrefix) query = query.where('action', 'like', startingWith(filter.actionPrefix));
  if (filter.hiddenObjectTypes?.length) {
    const hidden = filter.hiddenObjectTypes;
    query = query.where((eb) => eb.or([eb('object_type', 'is', null), eb('object_type', 'not in', hidden)]));
  }
  if (filter.objectType) query = query.where('object_type', '=', filter.objectType);
  if (filter.objectId) query = query.where('object_id', '=', filter.objectId);
  if (filter.actorName) query = query.where('actor_name', '=', filter.actorName);
  if (filter.since) query = query.where('at', '>=', filter.since);
  if (filter.until) query = query.where('at', '<', filter.until);
  if (filter.search) {
    const pattern = containing(filter.search);
    query = query.where((eb) => eb.or([eb('summary', 'ilike', pattern), eb('object_name', 'ilike', pattern)]));
  }
  return paginateAs(query, args, { expression: 'events.at', type: 'timestamptz', direction: 'desc', id: 'events.id' }, toEvent);
}
