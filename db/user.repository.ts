import { sql, type Selectable } from 'kysely';
import type { Role } from '../core/roles';
import type { Db } from './database';
import { paginateAs, type Page, type PageArgs } from './pagination';
import type { UsersTable } from './schema';
import { containing } from './like';

export interface User {
  id: string;
  username: string;
  email: string | null;
  role: Role;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

function toUser(row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    username: row.username,
    email: row.email,
    role: row.role,
    enabled: row.enabled,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function countUsers(db: Db): Promise<number> {
  const row = await db.selectFrom('users').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function findUserById(db: Db, id: string): Promise<User | undefined> {
  const row = await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toUser(row);
}

export async function findUsersByIds(db: Db, ids: readonly string[]): Promise<User[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('users').selectAll().where('id', 'in', ids).execute();
  return rows.map(toUser);
}

/** The user and password hash for a sign-in; usernames match case-insensitively. */
export async function findUserCredentials(
  db: Db,
  username: string,
): Promise<{ user: User; passwordHash: string | null } | undefined> {
  const row = await db
    .selectFrom('users')
    .selectAll()
    .where((eb) => eb(eb.fn('lower', ['username']), '=', username.toLowerCase()))
    .executeTakeFirst();
  return row && { user: toUser(row), passwordHash: row.password_hash };
}

export interface UserFilter {
  /** Case-insensitive text in the username or email. */
  search?: string;
  role?: Role;
  enabled?: boolean;
}

/** Users by username. */
export async function listUsers(db: Db, filter: UserFilter, args: PageArgs): Promise<Page<User>> {
  let query = db.selectFrom('users').selectAll();
  if (filter.search) {
    const pattern = containing(filter.search);
    query = query.where((eb) => eb.or([eb('username', 'ilike', pattern), eb('email', 'ilike', pattern)]));
  }
  if (filter.role) query = query.where('role', '=', filter.role);
  if (filter.enabled !== undefined) query = query.where('enabled', '=', filter.enabled);
  return paginateAs(query, args, { expression: 'lower(users.username)', type: 'text', direction: 'asc', id: 'users.id' }, toUser);
}

export interface NewUser {
  username: string;
  email: string | null;
  passwordHash: string;
  role: Role;
}

/** Inserts a user; returns undefined when the username is taken. */
export async function insertUser(db: Db, user: NewUser): Promise<User | undefined> {
  const row = await db
    .insertInto('users')
    .values({ username: user.username, email: user.email, password_hash: user.passwordHash, role: user.role })
    .onConflict((oc) => oc.expression(sql`lower(username)`).doNothing())
    .returningAll()
    .executeTakeFirst();
  return row && toUser(row);
}

export interface UserChanges {
  username?: string;
  email?: string | null;
  passwordHash?: string;
  role?: Role;
  enabled?: boolean;
}

export async function updateUser(db: Db, id: string, changes: UserChanges): Promise<User | undefined> {
  const row = await db
    .updateTable('users')
    .set({
      ...(changes.username !== undefined && { username: changes.username }),
      ...(changes.email !== undefined && { email: changes.email }),
      ...(changes.passwordHash !== undefined && { password_hash: changes.passwordHash }),
      ...(changes.role !== undefined && { role: changes.role }),
      ...(changes.enabled !== undefined && { enabled: changes.enabled }),
      updated_at: new Date(),
    })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  return row && toUser(row);
}

export async function deleteUser(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom('users').where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** How many enabled admins there are besides `exceptId`. */
export async function countOtherEnabledAdmins(db: Db, exceptId: string): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('role', '=', 'admin')
    .where('enabled', '=', true)
    .where('id', '!=', exceptId)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
