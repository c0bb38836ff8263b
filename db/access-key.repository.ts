/** VirtShell access keys: a public key id, a sealed secret, a role ceiling; revoked, never deleted. */
import type { Selectable } from 'kysely';
import type { Role } from '../core/roles';
import type { Db } from './database';
import { paginateAs, type Page, type PageArgs } from './pagination';
import type { AccessKeysTable } from './schema';

export interface AccessKey {
  id: string;
  userId: string;
  name: string;
  /** The public half of the credentials: `X-VirtShell-Authorization: <keyId>:<signature>`. */
  keyId: string;
  roleCeiling: Role;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  createdAt: Date;
}

function toAccessKey(row: Selectable<AccessKeysTable>): AccessKey {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    keyId: row.key_id,
    roleCeiling: row.role_ceiling,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
    createdAt: row.created_at,
  };
}

/** Inserts a key; undefined when the owner already has a live key of that name. */
export async function insertAccessKey(
  db: Db,
  key: { userId: string; name: string; keyId: string; secretSealed: Buffer; roleCeiling: Role },
): Promise<AccessKey | undefined> {
  const row = await db
    .insertInto('access_keys')
    .values({ user_id: key.userId, name: key.name, key_id: key.keyId, secret_sealed: key.secretSealed, role_ceiling: key.roleCeiling })
    .onConflict((oc) => oc.columns(['user_id', 'name']).where('revoked_at', 'is', null).doNothing())
    .returningAll()
    .executeTakeFirst();
  return row && toAccessKey(row);
}

/** A key by its public id, with its sealed secret (for checking a signature). */
export async function findAccessKeyByKeyId(db: Db, keyId: string): Promise<{ key: AccessKey; secretSealed: Buffer } | undefined> {
  const row = await db.selectFrom('access_keys').selectAll().where('key_id', '=', keyId).executeTakeFirst();
  return row && { key: toAccessKey(row), secretSealed: row.secret_sealed };
}

/** A user's access keys, newest first, revoked ones included. */
export async function listAccessKeysOfUser(db: Db, userId: string, args: PageArgs): Promise<Page<AccessKey>> {
  const query = db.selectFrom('access_keys').selectAll().where('user_id', '=', userId);
  return paginateAs(query, args, { expression: 'access_keys.created_at', type: 'timestamptz', direction: 'desc', id: 'access_keys.id' }, toAccessKey);
}

export async function findAccessKeysByIds(db: Db, ids: readonly string[]): Promise<AccessKey[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('access_keys').selectAll().where('id', 'in', ids).execute();
  return rows.map(toAccessKey);
}

export async function findAccessKeyOfUser(db: Db, userId: string, id: string): Promise<AccessKey | undefined> {
  const row = await db.selectFrom('access_keys').selectAll().where('user_id', '=', userId).where('id', '=', id).executeTakeFirst();
  return row && toAccessKey(row);
}

export async function revokeAccessKey(db: Db, id: string): Promise<AccessKey | undefined> {
  const row = await db
    .updateTable('access_keys')
    .set({ revoked_at: new Date() })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  return row && toAccessKey(row);
}

/** Records use, at most once a minute per key, so a busy key does not write on every request. */
export async function touchAccessKey(db: Db, id: string): Promise<void> {
  await db
    .updateTable('access_keys')
    .set({ last_used_at: new Date() })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', new Date(Date.now() - 60_000))]))
    .execute();
}
