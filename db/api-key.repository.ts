import type { Selectable } from 'kysely';
import type { Role } from '../core/roles';
import type { Db } from './database';
import { paginateAs, type Page, type PageArgs } from './pagination';
import type { ApiKeysTable } from './schema';

export interface ApiKey {
  id: string;
  userId: string;
  name: string;
  prefix: string;
  roleCeiling: Role;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
  createdAt: Date;
}

function toApiKey(row: Selectable<ApiKeysTable>): ApiKey {
  return {
    id: row.id,
    userId: row.user_id,
    name: row.name,
    prefix: row.prefix,
    roleCeiling: row.role_ceiling,
    expiresAt: row.expires_at,
    revokedAt: row.revoked_at,
    lastUsedAt: row.last_used_at,
    createdAt: row.created_at,
  };
}

/** Inserts a key; undefined when the owner already has a live key of that name. */
export async function insertApiKey(
  db: Db,
  key: { userId: string; name: string; prefix: string; secretHash: Buffer; roleCeiling: Role; expiresAt: Date | null },
): Promise<ApiKey | undefined> {
  const row = await db
    .insertInto('api_keys')
    .values({
      user_id: key.userId,
      name: key.name,
      prefix: key.prefix,
      secret_hash: key.secretHash,
      role_ceiling: key.roleCeiling,
      expires_at: key.expiresAt,
    })
    .onConflict((oc) => oc.columns(['user_id', 'name']).where('revoked_at', 'is', null).doNothing())
    .returningAll()
    .executeTakeFirst();
  return row && toApiKey(row);
}

export async function findApiKeyByPrefix(db: Db, prefix: string): Promise<{ key: ApiKey; secretHash: Buffer } | undefined> {
  const row = await db.selectFrom('api_keys').selectAll().where('prefix', '=', prefix).executeTakeFirst();
  return row && { key: toApiKey(row), secretHash: row.secret_hash };
}

/** A user's keys, newest first, revoked ones included. */
export async function listApiKeysOfUser(db: Db, userId: string, args: PageArgs): Promise<Page<ApiKey>> {
  const query = db.selectFrom('api_keys').selectAll().where('user_id', '=', userId);
  return paginateAs(query, args, { expression: 'api_keys.created_at', type: 'timestamptz', direction: 'desc', id: 'api_keys.id' }, toApiKey);
}

export async function findApiKeysByIds(db: Db, ids: readonly string[]): Promise<ApiKey[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('api_keys').selectAll().where('id', 'in', ids).execute();
  return rows.map(toApiKey);
}

export async function findApiKeyOfUser(db: Db, userId: string, id: string): Promise<ApiKey | undefined> {
  const row = await db
    .selectFrom('api_keys')
    .selectAll()
    .where('user_id', '=', userId)
    .where('id', '=', id)
    .executeTakeFirst();
  return row && toApiKey(row);
}

export async function revokeApiKey(db: Db, id: string): Promise<ApiKey | undefined> {
  const row = await db
    .updateTable('api_keys')
    .set({ revoked_at: new Date() })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  return row && toApiKey(row);
}

/** Records use, at most once a minute per key, so a busy key does not write on every request. */
export async function touchApiKey(db: Db, id: string): Promise<void> {
  await db
    .updateTable('api_keys')
    .set({ last_used_at: new Date() })
    .where('id', '=', id)
    .where((eb) =>
      eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', new Date(Date.now() - 60_000))]),
    )
    .execute();
}
