/**
 * Managing people: creating, changing, disabling and deleting users, the first admin, and
 * changing one's own password. Disabling or deleting a user ends their sessions.
 */
import type { Db } from '../db/database';
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

export interface UserDeps {
  db: Db;
  sessions: SessionStore;
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
  const user = await insertUser(deps.db, {
    username: input.username,
    email,
    passwordHash: await hashPassword(input.password),
    role: input.role,
  });
  if (!user) throw new ConflictError(`The username "${input.username}" is taken.`);
  return user;
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
  let updated: User | undefined;
  try {
    updated = await updateUserRow(deps.db, user.id, {
      username: input.username,
      email,
      role: input.role,
      enabled: input.enabled,
      passwordHash: input.password === undefined ? undefined : await hashPassword(input.password),
    });
  } catch (error) {
    if ((error as { code?: string }).code === '23505') throw new ConflictError(`The username "${input.username}" is taken.`);
    throw error;
  }
  if (!updated) throw new NotFoundError(`There is no user with id "${input.id}".`);
  // A disabled user, or one whose password was reset by an admin, must sign in again.
  if (input.enabled === false || input.password !== undefined) await deps.sessions.endAllOf(user.id);
  return updated;
}

export async function deleteUser(deps: UserDeps, actorId: string, id: string): Promise<User> {
  const user = await existingUser(deps.db, id);
  if (user.id === actorId) throw new ValidationError('You cannot delete your own account.');
  await keepAnAdmin(deps.db, user, 'delete');
  await deps.sessions.endAllOf(user.id);
  await deleteUserRow(deps.db, user.id); // keys go with it (ON DELETE CASCADE)
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
  await updateUserRow(deps.db, user.id, { passwordHash: await hashPassword(input.newPassword) });
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
  const user = await insertUser(deps.db, {
    username: admin.username,
    email: null,
    passwordHash: await hashPassword(password),
    role: 'admin',
  });
  // Another instance created it at the same moment: theirs stands.
  if (!user) return undefined;
  return { user, generatedPassword };
}
