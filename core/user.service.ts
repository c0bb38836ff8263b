/**
 * Managing people: creating, changing, disabling and deleting users, the first admin, and
 * changing one's own password. Disabling or deleting a user ends their sessions.
 */
import type { Db } from '../db/database';
import { audited, diff, type ChangeDeps } from './audit';
import {
  countOtherEnabledAdmins,
  countUsers,
  deleteUser as deleteUserRow,
  findUserById,
  findUserCredentials,
  insertUser,
  updateUser as updateUserRow,
  type User,
} from '../db/user.repository';
import { ConflictError, NotFoundError, ValidationError, type FieldProblem } from './errors';
import { isUuid } from './ids';
import { generatePassword, hashPassword, passwordProblem, verifyPassword } from './password';
import type { Role } from './roles';
import type { SessionStore } from './session';
import { pgError, UNIQUE_VIOLATION } from '../db/postgres-error';

export interface UserDeps extends ChangeDeps {
  sessions: SessionStore;
}

/** What the audit log keeps of a user (never a password or its hash). */
function userSummary(user: User): Record<string, unknown> {
  return { username: user.username, email: user.email, role: user.role, enabled: user.enabled };
}

const USERNAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,63}$/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

function check(problems: FieldProblem[]): void {
  if (problems.length > 0) {
    throw new ValidationError(problems.map((p) => p.message).join(' '), problems);
  }
}

function usernameProblems(username: string | undefined): FieldProblem[] {
  if (username === undefined || USERNAME.test(username)) return [];
  return [{ path: ['input', 'username'], message: 'A username is 1–64 letters, digits, dots, dashes or underscores, starting with a letter or digit.' }];
}

function emailProblems(email: string | null | undefined): FieldProblem[] {
  if (email === undefined || email === null || (email.length <= 254 && EMAIL.test(email))) return [];
  return [{ path: ['input', 'email'], message: `"${email.slice(0, 80)}" is not an email address.` }];
}

function passwordProblems(password: string | undefined, field = 'password'): FieldProblem[] {
  const problem = password === undefined ? undefined : passwordProblem(password);
  return problem ? [{ path: ['input', field], message: `Password: ${problem}` }] : [];
}

export interface CreateUserInput {
  username: string;
  email?: string | null;
  password: string;
  role: Role;
}

export async function createUser(deps: UserDeps, input: CreateUserInput): Promise<User> {
  const email = input.email?.trim() || null;
  check([...usernameProblems(input.username), ...emailProblems(email), ...passwordProblems(input.password)]);
  const passwordHash = await hashPassword(input.password);
  return audited(deps, async (trx, record) => {
    const user = await insertUser(trx, { username: input.username, email, passwordHash, role: input.role });
    if (!user) throw new ConflictError(`The username "${input.username}" is taken.`);
    record({
      action: 'user.created',
      objectType: 'User',
      objectId: user.id,
      objectName: user.username,
      summary: `Created user "${user.username}" (${user.role})`,
      details: { after: userSummary(user) },
    });
    return user;
  });
}

export interface UpdateUserInput {
  id: string;
  username?: string;
  email?: string | null;
  password?: string;
  role?: Role;
  enabled?: boolean;
}

async function existingUser(db: Db, id: string): Promise<User> {
  const user = isUuid(id) ? await findUserById(db, id) : undefined;
  if (!user) throw new NotFoundError(`There is no user with id "${id}".`);
  return user;
}

/** Keeps at least one enabled admin, so nobody locks everyone out. */
async function keepAnAdmin(db: Db, user: User, action: string): Promise<void> {
  if (user.role === 'admin' && user.enabled && (await countOtherEnabledAdmins(db, user.id)) === 0) {
    throw new ConflictError(`Cannot ${action} "${user.username}": it is the only enabled admin.`);
  }
}

export async function updateUser(deps: UserDeps, actorId: string, input: UpdateUserInput): Promise<User> {
  const email = input.email === undefined ? undefined : input.email?.trim() || null;
  check([...usernameProblems(input.username), ...emailProblems(email), ...passwordProblems(input.password)]);
  const user = await existingUser(deps.db, input.id);
  if (input.enabled === false && user.id === actorId) {
    throw new ValidationError('You cannot disable your own account.', [{ path: ['input', 'enabled'], message: 'You cannot disable your own account.' }]);
  }
  if ((input.role !== undefined && input.role !== 'admin') || input.enabled === false) {
    await keepAnAdmin(deps.db, user, input.enabled === false ? 'disable' : 'demote');
  }
  const passwordHash = input.password === undefined ? undefined : await hashPassword(input.password);
  let updated: User;
  try {
    updated = await audited(deps, async (trx, record) => {
      const row = await updateUserRow(trx, user.id, { username: input.username, email, role: input.role, enabled: input.enabled, passwordHash });
      if (!row) throw new NotFoundError(`There is no user with id "${input.id}".`);
      record({
        action: 'user.updated',
        objectType: 'User',
        objectId: row.id,
        objectName: row.username,
        summary: `Changed user "${row.username}"${passwordHash ? ' (password reset)' : ''}`,
        details: { ...diff(userSummary(user), userSummary(row)), ...(passwordHash && { passwordChanged: true }) },
      });
      return row;
    });
  } catch (error) {
    if (pgError(error).code === UNIQUE_VIOLATION) throw new ConflictError(`The username "${input.username}" is taken.`);
    throw error;
  }
  // A disabled user, or one whose password was reset by an admin, must sign in again.
  if (input.enabled === false || input.password !== undefined) await deps.sessions.endAllOf(user.id);
  return updated;
}

export async function deleteUser(deps: UserDeps, actorId: string, id: string): Promise<User> {
  const user = await existingUser(deps.db, id);
  if (user.id === actorId) throw new ValidationError('You cannot delete your own account.');
  await keepAnAdmin(deps.db, user, 'delete');
  await deps.sessions.endAllOf(user.id);
  await audited(deps, async (trx, record) => {
    await deleteUserRow(trx, user.id); // keys go with it (ON DELETE CASCADE)
    record({
      action: 'user.deleted',
      objectType: 'User',
      objectId: user.id,
      objectName: user.username,
      summary: `Deleted user "${user.username}"`,
      details: { before: userSummary(user) },
    });
  });
  return user;
}

/**
 * Changes one's own password and ends every session of the user (the caller's transport opens
 * a fresh one for the person who made the change).
 */
export async function changeOwnPassword(
  deps: UserDeps,
  user: User,
  input: { currentPassword: string; newPassword: string },
): Promise<void> {
  check(passwordProblems(input.newPassword, 'newPassword'));
  const found = await findUserCredentials(deps.db, user.username);
  if (!found?.passwordHash || !(await verifyPassword(found.passwordHash, input.currentPassword))) {
    throw new ValidationError('The current password is wrong.', [{ path: ['input', 'currentPassword'], message: 'The current password is wrong.' }]);
  }
  const passwordHash = await hashPassword(input.newPassword);
  await audited(deps, async (trx, record) => {
    await updateUserRow(trx, user.id, { passwordHash });
    record({ action: 'user.password_changed', objectType: 'User', objectId: user.id, objectName: user.username, summary: `"${user.username}" changed their password` });
  });
  await deps.sessions.endAllOf(user.id);
}

/**
 * On first start with no users, creates the admin: with the configured password, or a generated
 * one that is returned so the caller can print it once.
 */
export async function ensureFirstAdmin(
  deps: UserDeps,
  admin: { username: string; password: string | undefined },
): Promise<{ user: User; generatedPassword?: string } | undefined> {
  if ((await countUsers(deps.db)) > 0) return undefined;
  const generatedPassword = admin.password ? undefined : generatePassword();
  const password = admin.password ?? generatedPassword!;
  const passwordHash = await hashPassword(password);
  const user = await audited(deps, async (trx, record) => {
    const created = await insertUser(trx, { username: admin.username, email: null, passwordHash, role: 'admin' });
    if (created) {
      record({
        action: 'user.created',
        objectType: 'User',
        objectId: created.id,
        objectName: created.username,
        summary: `Created the first admin, "${created.username}"`,
        details: { after: userSummary(created) },
      });
    }
    return created;
  });
  // Another instance created it at the same moment: theirs stands.
  if (!user) return undefined;
  return { user, generatedPassword };
}
