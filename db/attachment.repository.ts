/** Attachments: files written on the host before a script runs. Bytes are read separately. */
import { sql } from 'kysely';
import type { Db } from './database';
import { paginateAs, type Page, type PageArgs } from './pagination';
import { containing } from './like';

export interface Attachment {
  id: string;
  name: string;
  path: string;
  mimeType: string;
  /** Unix permission bits, e.g. 0o644 = 420. */
  mode: number;
  uid: number | null;
  gid: number | null;
  size: number;
  sha256: string;
  createdAt: Date;
  updatedAt: Date;
}

/** Every column but the bytes. */
export const ATTACHMENT_COLUMNS = ['id', 'name', 'path', 'mime_type', 'mode', 'uid', 'gid', 'size', 'sha256', 'created_at', 'updated_at'] as const;
const QUALIFIED_COLUMNS = ATTACHMENT_COLUMNS.map((column) => `attachments.${column}` as const);

export function toAttachment(row: {
  id: string;
  name: string;
  path: string;
  mime_type: string;
  mode: number;
  uid: number | null;
  gid: number | null;
  size: number;
  sha256: Buffer;
  created_at: Date;
  updated_at: Date;
}): Attachment {
  return {
    id: row.id,
    name: row.name,
    path: row.path,
    mimeType: row.mime_type,
    mode: row.mode,
    uid: row.uid,
    gid: row.gid,
    size: row.size,
    sha256: row.sha256.toString('hex'),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function findAttachmentsByIds(db: Db, ids: readonly string[]): Promise<Attachment[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('attachments').select(ATTACHMENT_COLUMNS).where('id', 'in', ids).execute();
  return rows.map(toAttachment);
}

/** One attachment; with `lock`, its row stays locked until the transaction ends. */
export async function findAttachmentById(db: Db, id: string, options: { lock?: boolean } = {}): Promise<Attachment | undefined> {
  let query = db.selectFrom('attachments').select(ATTACHMENT_COLUMNS).where('id', '=', id);
  if (options.lock) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  return row && toAttachment(row);
}

/** Attachments by name; `search` is case-insensitive text in the name. */
export async function listAttachments(db: Db, filter: { search?: string }, args: PageArgs): Promise<Page<Attachment>> {
  let query = db.selectFrom('attachments').select(ATTACHMENT_COLUMNS);
  if (filter.search) query = query.where('name', 'ilike', containing(filter.search));
  return paginateAs(query, args, { expression: 'lower(attachments.name)', type: 'text', direction: 'asc', id: 'attachments.id' }, toAttachment);
}

/** An attachment's stored fields; `content` with its size and SHA-256 when the bytes change. */
export interface AttachmentValues {
  name: string;
  path: string;
  mimeType: string;
  mode: number;
  uid: number | null;
  gid: number | null;
  content: { bytes: Buffer; sha256: Buffer };
}

export async function insertAttachment(db: Db, values: AttachmentValues): Promise<Attachment> {
  const row = await db
    .insertInto('attachments')
    .values({
      name: values.name,
      path: values.path,
      mime_type: values.mimeType,
      mode: values.mode,
      uid: values.uid,
      gid: values.gid,
      size: values.content.bytes.length,
      sha256: values.content.sha256,
      content: values.content.bytes,
    })
    .returning(ATTACHMENT_COLUMNS)
    .executeTakeFirstOrThrow();
  return toAttachment(row);
}

/** Changes the given fields; the bytes only when `content` is given. */
export async function updateAttachmentRow(db: Db, id: string, values: Partial<AttachmentValues>): Promise<Attachment | undefined> {
  const columns = Object.fromEntries(
    Object.entries({
      name: values.name,
      path: values.path,
      mime_type: values.mimeType,
      mode: values.mode,
      uid: values.uid,
      gid: values.gid,
      ...(values.content && { size: values.content.bytes.length, sha256: values.content.sha256, content: values.content.bytes }),
    }).filter(([, value]) => value !== undefined),
  );
  const row = await db
    .updateTable('attachments')
    .set({ ...columns, updated_at: sql`now()` })
    .where('id', '=', id)
    .returning(ATTACHMENT_COLUMNS)
    .executeTakeFirst();
  return row && toAttachment(row);
}

/** Deletes an attachment; scripts using it lose it (ON DELETE CASCADE on the links). */
export async function deleteAttachmentRow(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom('attachments').where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/**
 * Deletes the attachments of a script that no other script uses, and returns them (Otto deletes
 * a script's attachments with it). Call before deleting the script, in the same transaction.
 */
export async function deleteAttachmentsOnlyUsedBy(db: Db, scriptId: string): Promise<Attachment[]> {
  const rows = await db
    .deleteFrom('attachments')
    .where('id', 'in', (eb) => eb.selectFrom('script_attachments').select('attachment_id').where('script_id', '=', scriptId))
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('script_attachments as other')
            .select('other.attachment_id')
            .whereRef('other.attachment_id', '=', 'attachments.id')
            .where('other.script_id', '<>', scriptId),
        ),
      ),
    )
    .returning(ATTACHMENT_COLUMNS)
    .execute();
  return rows.map(toAttachment);
}

/** Which of `ids` name existing attachments. */
export async function existingAttachmentIds(db: Db, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db.selectFrom('attachments').select('id').where('id', 'in', ids).execute();
  return new Set(rows.map((row) => row.id));
}

/** For a DataLoader: each script's attachments, in the script's order, in the order of `scriptIds`. */
export async function attachmentsOfScripts(db: Db, scriptIds: readonly string[]): Promise<Attachment[][]> {
  if (scriptIds.length === 0) return [];
  const rows = await db
    .selectFrom('script_attachments')
    .innerJoin('attachments', 'attachments.id', 'script_attachments.attachment_id')
    .select(QUALIFIED_COLUMNS)
    .select('script_attachments.script_id')
    .where('script_attachments.script_id', 'in', scriptIds)
    .orderBy('script_attachments.position')
    .execute();
  return scriptIds.map((id) => rows.filter((row) => row.script_id === id).map(toAttachment));
}

/** The bytes of an attachment (for the executor and downloads); undefined when there is none. */
export async function readAttachmentContent(db: Db, id: string): Promise<Buffer | undefined> {
  const row = await db.selectFrom('attachments').select('content').where('id', '=', id).executeTakeFirst();
  return row?.content;
}

/** For a DataLoader: the bytes of each attachment, in the order of `ids` (undefined when gone). */
export async function readAttachmentContents(db: Db, ids: readonly string[]): Promise<(Buffer | undefined)[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('attachments').select(['id', 'content']).where('id', 'in', ids).execute();
  const byId = new Map(rows.map((row) => [row.id, row.content]));
  return ids.map((id) => byId.get(id));
}
