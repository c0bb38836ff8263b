/**
 * Every change is audited: a service does its writes and records what it changed inside one
 * transaction (`audited`), so an event exists exactly when the change does. Listeners hear of
 * events only after the commit.
 */
import type { Db } from '../db/database';
import { insertEvents, type AuditEvent, type NewEvent } from '../db/event.repository';
import type { Run } from '../db/run.repository';
import type { ActorKind } from '../db/schema';
import type { Viewer } from './auth.service';

/** Who made a change. */
export interface Actor {
  kind: ActorKind;
  id: string | null;
  name: string;
  ip: string | null;
}

export const SYSTEM: Actor = { kind: 'system', id: null, name: 'runboard', ip: null };

export function actorOf(viewer: Viewer | null, ip: string | null = null): Actor {
  if (!viewer) return { kind: 'anonymous', id: null, name: 'anonymous', ip };
  if (viewer.via === 'apiKey') return { kind: 'api_key', id: viewer.apiKeyId ?? null, name: viewer.user.username, ip };
  return { kind: 'user', id: viewer.user.id, name: viewer.user.username, ip };
}

/** What a service needs to change things: the database, who is acting, and who to tell. */
export interface ChangeDeps {
  db: Db;
  actor: Actor;
  /** Told of each event once its transaction has committed. */
  onEvent?: (event: AuditEvent) => void;
  /** Told of runs a change deleted as a side effect (a schedule's early runs withdrawn), after the commit. */
  onRunsDeleted?: (runs: Run[]) => void;
}

/** One audited change: `<type>.<verb>` of an object, with before/after summaries. */
export interface Change {
  action: string;
  objectType?: string;
  objectId?: string | null;
  objectName?: string | null;
  summary: string;
  details?: Record<string, unknown>;
}

export type RecordChange = (change: Change) => void;

/**
 * Runs `work` in a transaction; the changes it records become events in the same transaction.
 */
export async function audited<T>(deps: ChangeDeps, work: (trx: Db, record: RecordChange) => Promise<T>): Promise<T> {
  const changes: Change[] = [];
  if (deps.db.isTransaction) {
    // Part of a larger change (inOneTransaction): written in its transaction, told after its commit.
    const value = await work(deps.db, (change) => changes.push(change));
    const written = await insertEvents(deps.db, changes.map((change) => toNewEvent(deps.actor, change)));
    for (const event of written) deps.onEvent?.(event);
    return value;
  }
  const [result, events] = await deps.db.transaction().execute(async (trx) => {
    const value = await work(trx, (change) => changes.push(change));
    const written = await insertEvents(trx, changes.map((change) => toNewEvent(deps.actor, change)));
    return [value, written] as const;
  });
  for (const event of events) deps.onEvent?.(event);
  return result;
}

/**
 * Runs several services' changes as one: `work` gets deps whose database is one transaction, so
 * every change and its events are written, or none (an ndscheduler job is a script and its
 * schedule). Listeners hear of the events and withdrawn runs only after the commit.
 */
export async function inOneTransaction<T>(deps: ChangeDeps, work: (deps: ChangeDeps) => Promise<T>): Promise<T> {
  const events: AuditEvent[] = [];
  const withdrawn: Run[] = [];
  const result = await deps.db.transaction().execute((trx) =>
    work({ ...deps, db: trx, onEvent: (event) => events.push(event), onRunsDeleted: (runs) => withdrawn.push(...runs) }),
  );
  for (const event of events) deps.onEvent?.(event);
  if (withdrawn.length > 0) deps.onRunsDeleted?.(withdrawn);
  return result;
}

/** Records one event outside any other change (sign-in, a run started, a server start). */
export async function recordEvent(deps: ChangeDeps, change: Change): Promise<AuditEvent> {
  const [event] = await insertEvents(deps.db, [toNewEvent(deps.actor, change)]);
  deps.onEvent?.(event!);
  return event!;
}

/** The event row a change by `actor` becomes. */
export function toNewEvent(actor: Actor, change: Change): NewEvent {
  return {
    action: change.action,
    actorKind: actor.kind,
    actorId: actor.id,
    actorName: actor.name,
    objectType: change.objectType ?? null,
    objectId: change.objectId ?? null,
    objectName: change.objectName ?? null,
    summary: change.summary,
    details: change.details ?? {},
    ip: actor.ip,
  };
}

/** The fields that differ between two summaries of an object, as `{ before, after }`. */
export function diff(before: Record<string, unknown>, after: Record<string, unknown>): { before: Record<string, unknown>; after: Record<string, unknown> } {
  const changedBefore: Record<string, unknown> = {};
  const changedAfter: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (JSON.stringify(before[key]) !== JSON.stringify(after[key])) {
      changedBefore[key] = before[key];
      changedAfter[key] = after[key];
    }
  }
  return { before: changedBefore, after: changedAfter };
}
