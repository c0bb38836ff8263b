/** Silences: maintenance windows (a time range) and snoozes (until a time), optionally narrowed. */
import type { Selectable } from 'kysely';
import type { Db } from './database';
import type { SilenceKind, SilencesTable, SubjectType } from './notification-tables';
import { paginateAs, type Page, type PageArgs } from './pagination';

export interface Silence {
  id: string;
  kind: SilenceKind;
  reason: string;
  startsAt: Date;
  endsAt: Date;
  /** Only this rule's alerts (snoozes); null for any rule. */
  ruleId: string | null;
  /** Only alerts about this subject; null for any. */
  subjectType: SubjectType | null;
  subjectId: string | null;
  createdBy: string;
  createdAt: Date;
  /** When it was ended early; null when it runs its course. */
  endedAt: Date | null;
}

function toSilence(row: Selectable<SilencesTable>): Silence {
  return {
    id: row.id,
    kind: row.kind,
    reason: row.reason,
    startsAt: row.starts_at,
    endsAt: row.ends_at,
    ruleId: row.rule_id,
    subjectType: row.subject_type,
    subjectId: row.subject_id,
    createdBy: row.created_by,
    createdAt: row.created_at,
    endedAt: row.ended_at,
  };
}

export type NewSilence = Omit<Silence, 'id' | 'createdAt' | 'endedAt'>;

export async function insertSilence(db: Db, silence: NewSilence): Promise<Silence> {
  const row = await db
    .insertInto('silences')
    .values({
      kind: silence.kind,
      reason: silence.reason,
      starts_at: silence.startsAt,
      ends_at: silence.endsAt,
      rule_id: silence.ruleId,
      subject_type: silence.subjectType,
      subject_id: silence.subjectId,
      created_by: silence.createdBy,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return toSilence(row);
}

export async function lockSilence(db: Db, id: string, kind: SilenceKind): Promise<Silence | undefined> {
  const row = await db.selectFrom('silences').selectAll().where('id', '=', id).where('kind', '=', kind).forUpdate().executeTakeFirst();
  return row && toSilence(row);
}

/** Ends a silence now: it stops silencing at once (its start moves too, if it had not begun). */
export async function endSilenceRow(db: Db, id: string): Promise<Silence> {
  const row = await db
    .updateTable('silences')
    .set((eb) => ({
      ended_at: new Date(),
      ends_at: eb.fn('greatest', [eb.ref('starts_at'), eb.fn('now')]) as never,
      starts_at: eb.fn('least', [eb.ref('starts_at'), eb.fn('now')]) as never,
    }))
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toSilence(row);
}

export async function findSilencesByIds(db: Db, ids: readonly string[]): Promise<Silence[]> {
  if (ids.length === 0) return [];
  return (await db.selectFrom('silences').selectAll().where('id', 'in', ids).execute()).map(toSilence);
}

/** Silences in force at some moment of [from, to]: what the alerter checks alerts against. */
export async function listSilencesOverlapping(db: Db, from: Date, to: Date): Promise<Silence[]> {
  const rows = await db.selectFrom('silences').selectAll().where('starts_at', '<=', to).where('ends_at', '>', from).execute();
  return rows.map(toSilence);
}

export async function listSilences(db: Db, kind: SilenceKind, filter: { activeAt?: Date; includeEnded?: boolean }, args: PageArgs): Promise<Page<Silence>> {
  let query = db.selectFrom('silences').selectAll().where('kind', '=', kind);
  if (filter.activeAt) query = query.where('starts_at', '<=', filter.activeAt).where('ends_at', '>', filter.activeAt);
  if (filter.includeEnded === false) query = query.where('ends_at', '>', new Date());
  return paginateAs(query, args, { expression: 'silences.ends_at', type: 'timestamptz', direction: 'desc', id: 'silences.id' }, toSilence);
}
