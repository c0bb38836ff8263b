/** People: the User type, the viewer, signing in and out, and user management (admins). */
import { actorOf, recordEvent } from '../core/audit';
import { signIn } from '../core/auth.service';
import { ConflictError, NotFoundError, RateLimitedError, UnauthenticatedError, ValidationError } from '../core/errors';
import type { Role } from '../core/roles';
import { changeOwnPassword, createUser, deleteUser, updateUser } from '../core/user.service';
import { findUserById, findUsersByIds, listUsers, type User } from '../db/user.repository';
import type { Viewer } from '../core/auth.service';
import { builder } from './builder';
import { changeDeps } from './change';
import { pageArgs, toConnection } from './connection';
import { decodeId, encodeGlobalID } from './ids';
import type { Context } from './context';
import type { UserChangeKind } from './pubsub';

export const RoleEnum = builder.enumType('Role', {
  description: 'What a user (or an API key) may do. Each role includes the ones before it.',
  values: {
    VIEWER: { value: 'viewer', description: 'Reads everything except secrets.' },
    OPERATOR: { value: 'operator', description: 'Also starts and cancels runs, reports runs, pauses and resumes schedules and checks, and records pings.' },
    ADMIN: { value: 'admin', description: 'Also manages everything: hosts, groups, scripts, attachments, schedules, checks, users, options and registration.' },
  } as const,
});

export const UserRef = builder.loadableNodeRef('User', {
  id: { resolve: (user: User) => user.id },
  load: (ids: string[], ctx) => findUsersByIds(ctx.app.db, ids),
  sort: (user) => user.id,
});

UserRef.implement({
  description: 'A person who signs in to Runboard. Admins see everyone; others see only themselves.',
  authScopes: (user, ctx) => ctx.viewer !== null && (ctx.viewer.role === 'admin' || ctx.viewer.user.id === user.id),
  fields: (t) => ({
    username: t.exposeString('username', { description: 'The name they sign in with (unique, case-insensitive).' }),
    email: t.exposeString('email', { nullable: true, description: 'Where to reach them, if known.' }),
    role: t.field({ type: RoleEnum, description: 'What they may do.', resolve: (user) => user.role }),
    enabled: t.exposeBoolean('enabled', { description: 'Whether they may sign in; a disabled user has no sessions.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the user was created.' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'When the user was last changed.' }),
  }),
});

const AuthMethodEnum = builder.enumType('AuthMethod', {
  description: 'How a caller proved who they are.',
  values: {
    SESSION: { value: 'session', description: 'A browser session (the runboard_session cookie).' },
    API_KEY: { value: 'apiKey', description: 'An API key, as a Bearer token or the password of HTTP Basic.' },
    PASSWORD: { value: 'password', description: 'A username and password in HTTP Basic.' },
    ACCESS_KEY: { value: 'accessKey', description: 'A request signed with an access key (VirtShell\'s X-VirtShell-Authorization header).' },
  } as const,
});

const ViewerRef = builder.objectRef<Viewer>('Viewer').implement({
  description: 'The signed-in caller.',
  fields: (t) => ({
    user: t.field({ type: UserRef, description: 'The person calling (the owner, for an API key).', resolve: (viewer) => viewer.user }),
    role: t.field({
      type: RoleEnum,
      description: "What this caller may do: the user's role, lowered to the API key's ceiling when a key is used.",
      resolve: (viewer) => viewer.role,
    }),
    via: t.field({
      type: AuthMethodEnum,
      description: 'How the caller authenticated.',
      resolve: (viewer) => viewer.via,
    }),
  }),
});

builder.queryFields((t) => ({
  viewer: t.field({
    type: ViewerRef,
    nullable: true,
    skipTypeScopes: true,
    description: 'The signed-in caller, or null when nobody is signed in. Open to anonymous callers.',
    resolve: (_root, _args, ctx) => ctx.viewer,
  }),
  users: t.withAuth({ role: 'admin' }).connection({
    type: UserRef,
    description: 'Users by username. Admins only.',
    args: {
      search: t.arg.string({ description: 'Text in the username or email (case-insensitive).' }),
      role: t.arg({ type: RoleEnum, description: 'Only users with this role.' }),
      enabled: t.arg.boolean({ description: 'Only enabled (true) or disabled (false) users.' }),
    },
    resolve: async (_root, args, ctx) =>
      toConnection(
        await listUsers(
          ctx.app.db,
          { search: args.search ?? undefined, role: (args.role ?? undefined) as Role | undefined, enabled: args.enabled ?? undefined },
          pageArgs(args),
        ),
      ),
  }),
  user: t.withAuth({ role: 'admin' }).field({
    type: UserRef,
    nullable: true,
    description: 'One user by id (global id or UUID). Admins only.',
    args: { id: t.arg.id({ required: true, description: 'The user’s id.' }) },
    resolve: (_root, { id }, ctx) => findUserById(ctx.app.db, decodeId('User', id)),
  }),
}));

/** A user service's dependencies for this request. */
function userDeps(ctx: Context) {
  return { ...changeDeps(ctx), sessions: ctx.app.sessions };
}

function publishUser(ctx: Context, kind: UserChangeKind, user: User): void {
  ctx.app.pubsub.publish('userChanged', { kind, user });
}

const SignInInput = builder.inputType('SignInInput', {
  description: 'A username and password.',
  fields: (t) => ({
    username: t.string({ required: true, description: 'Your username (any case).' }),
    password: t.string({ required: true, description: 'Your password.' }),
  }),
});

const CreateUserInput = builder.inputType('CreateUserInput', {
  description: 'A new user.',
  fields: (t) => ({
    username: t.string({ required: true, description: '1–64 letters, digits, dots, dashes or underscores.' }),
    email: t.string({ description: 'Their email address (optional).' }),
    password: t.string({ required: true, description: 'At least 12 characters.' }),
    role: t.field({ type: RoleEnum, required: true, description: 'What they may do.' }),
  }),
});

const UpdateUserInput = builder.inputType('UpdateUserInput', {
  description: 'Only the fields given change. Disabling a user or setting a password ends their sessions.',
  fields: (t) => ({
    id: t.id({ required: true, description: 'The user to change.' }),
    username: t.string({ description: 'A new username.' }),
    email: t.string({ description: 'An empty string removes the email.' }),
    password: t.string({ description: 'A new password (at least 12 characters); ends their sessions.' }),
    role: t.field({ type: RoleEnum, description: 'A new role.' }),
    enabled: t.boolean({ description: 'False disables the user and ends their sessions.' }),
  }),
});

const ChangePasswordInput = builder.inputType('ChangePasswordInput', {
  description: 'Your current password and the new one.',
  fields: (t) => ({
    currentPassword: t.string({ required: true, description: 'The password you use now.' }),
    newPassword: t.string({ required: true, description: 'The new password (at least 12 characters).' }),
  }),
});

/** Opens a session for `userId` and sets its cookie on the HTTP response. */
async function openSession(ctx: Context, userId: string): Promise<void> {
  const session = await ctx.app.sessions.create(userId, { ip: ctx.ip, userAgent: ctx.userAgent });
  ctx.setCookie(ctx.app.sessions.cookie(session.id, ctx.secure));
}

builder.mutationFields((t) => ({
  signIn: t.field({
    type: ViewerRef,
    skipTypeScopes: true,
    description: 'Signs in with a username and password and sets the session cookie. Over HTTP only.',
    errors: { types: [ValidationError, UnauthenticatedError, RateLimitedError] },
    args: { input: t.arg({ type: SignInInput, required: true, description: 'What to do it with.' }) },
    resolve: async (_root, { input }, ctx) => {
      if (ctx.transport !== 'http') throw new ValidationError('Sign in over HTTP: a WebSocket cannot receive the session cookie.');
      let signedIn: Awaited<ReturnType<typeof signIn>>;
      try {
        signedIn = await signIn(ctx.app, { ...input, ip: ctx.ip, userAgent: ctx.userAgent });
      } catch (error) {
        if (error instanceof UnauthenticatedError) {
          await recordEvent(changeDeps(ctx), {
            action: 'user.sign_in_failed',
            objectType: 'User',
            objectName: input.username.slice(0, 64),
            summary: `Failed sign-in as "${input.username.slice(0, 64)}"`,
          });
        }
        throw error;
      }
      const { user, session } = signedIn;
      await recordEvent(
        { ...changeDeps(ctx), actor: actorOf({ user, role: user.role, via: 'session' }, ctx.ip) },
        { action: 'user.signed_in', objectType: 'User', objectId: user.id, objectName: user.username, summary: `"${user.username}" signed in` },
      );
      if (ctx.viewer?.sessionId) await ctx.app.sessions.end(ctx.viewer.sessionId);
      ctx.setCookie(ctx.app.sessions.cookie(session.id, ctx.secure));
      ctx.log.info({ userId: user.id, username: user.username }, 'signed in');
      // The rest of this operation sees the person who just signed in.
      ctx.viewer = { user, role: user.role, via: 'session', sessionId: session.id };
      return ctx.viewer;
    },
  }),
  signOut: t.boolean({
    skipTypeScopes: true,
    description: 'Ends the current session and clears its cookie. True when a session was ended.',
    resolve: async (_root, _args, ctx) => {
      if (ctx.transport === 'http') ctx.setCookie(ctx.app.sessions.blankCookie(ctx.secure));
      if (!ctx.viewer?.sessionId) return false;
      await ctx.app.sessions.end(ctx.viewer.sessionId);
      const { user } = ctx.viewer;
      await recordEvent(changeDeps(ctx), { action: 'user.signed_out', objectType: 'User', objectId: user.id, objectName: user.username, summary: `"${user.username}" signed out` });
      return true;
    },
  }),
  changePassword: t.withAuth({ signedIn: true }).boolean({
    description: 'Changes your own password. Every session of yours ends; the one you are using is replaced by a new one.',
    errors: { types: [ValidationError] },
    args: { input: t.arg({ type: ChangePasswordInput, required: true, description: 'What to do it with.' }) },
    resolve: async (_root, { input }, ctx) => {
      await changeOwnPassword(userDeps(ctx), ctx.viewer.user, input);
      if (ctx.viewer.via === 'session' && ctx.transport === 'http') await openSession(ctx, ctx.viewer.user.id);
      return true;
    },
  }),
  createUser: t.withAuth({ role: 'admin' }).field({
    type: UserRef,
    description: 'Creates a user. Admins only.',
    errors: { types: [ValidationError, ConflictError] },
    args: { input: t.arg({ type: CreateUserInput, required: true, description: 'What to do it with.' }) },
    resolve: async (_root, { input }, ctx) => {
      const user = await createUser(userDeps(ctx), { ...input, role: input.role as Role });
      publishUser(ctx, 'CREATED', user);
      return user;
    },
  }),
  updateUser: t.withAuth({ role: 'admin' }).field({
    type: UserRef,
    description: 'Changes a user. Admins only. The last enabled admin cannot be demoted or disabled.',
    errors: { types: [ValidationError, ConflictError, NotFoundError] },
    args: { input: t.arg({ type: UpdateUserInput, required: true, description: 'What to do it with.' }) },
    resolve: async (_root, { input }, ctx) => {
      const user = await updateUser(userDeps(ctx), ctx.viewer.user.id, {
        id: decodeId('User', input.id, 'input.id'),
        username: input.username ?? undefined,
        email: input.email,
        password: input.password ?? undefined,
        role: (input.role ?? undefined) as Role | undefined,
        enabled: input.enabled ?? undefined,
      });
      publishUser(ctx, 'UPDATED', user);
      return user;
    },
  }),
  deleteUser: t.withAuth({ role: 'admin' }).field({
    type: 'ID',
    description: 'Deletes a user, their sessions and their API keys, and returns the id of the deleted user. Admins only; not yourself.',
    errors: { types: [ValidationError, ConflictError, NotFoundError] },
    args: { id: t.arg.id({ required: true, description: 'The user to delete.' }) },
    resolve: async (_root, { id }, ctx) => {
      const user = await deleteUser(userDeps(ctx), ctx.viewer.user.id, decodeId('User', id));
      publishUser(ctx, 'DELETED', user);
      return encodeGlobalID('User', user.id);
    },
  }),
}));

const UserChangeKindEnum = builder.enumType('UserChangeKind', {
  description: 'What happened to a user.',
  values: {
    CREATED: { description: 'The user was created.' },
    UPDATED: { description: 'The user was changed.' },
    DELETED: { description: 'The user was deleted.' },
  } as const,
});

const UserChangeRef = builder.objectRef<{ kind: UserChangeKind; user: User }>('UserChange').implement({
  description: 'A user was created, changed or deleted.',
  fields: (t) => ({
    kind: t.field({ type: UserChangeKindEnum, description: 'What happened.', resolve: (change) => change.kind }),
    user: t.field({ type: UserRef, description: 'The user as it is now (as it was, when deleted).', resolve: (change) => change.user }),
  }),
});

builder.subscriptionFields((t) => ({
  userChanged: t.withAuth({ role: 'admin' }).field({
    type: UserChangeRef,
    description: 'Fires when a user is created, changed or deleted. Admins only.',
    subscribe: (_root, _args, ctx) => ctx.app.pubsub.subscribe('userChanged'),
    resolve: (change) => change,
  }),
}));
