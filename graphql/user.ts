/** People: the User type, the viewer, signing in and out, and user management (admins). */
import { signIn } from '../core/auth.service';
import { ConflictError, NotFoundError, RateLimitedError, UnauthenticatedError, ValidationError } from '../core/errors';
import { isUuid } from '../core/ids';
import type { Role } from '../core/roles';
import { changeOwnPassword, createUser, deleteUser, updateUser } from '../core/user.service';
import { findUserById, listUsers, type User } from '../db/user.repository';
import type { Viewer } from '../core/auth.service';
import { builder } from './builder';
import type { Context } from './context';
import type { UserChangeKind } from './pubsub';

export const RoleEnum = builder.enumType('Role', {
  description: 'What a user (or an API key) may do. Each role includes the ones before it.',
  values: {
    VIEWER: { value: 'viewer', description: 'Reads everything except secrets.' },
    OPERATOR: { value: 'operator', description: 'Also runs, cancels and edits scripts, schedules, hosts and checks.' },
    ADMIN: { value: 'admin', description: 'Also manages users, options and registration.' },
  } as const,
});

export const UserRef = builder.objectRef<User>('User').implement({
  description: 'A person who signs in to Runboard.',
  fields: (t) => ({
    id: t.exposeID('id'),
    username: t.exposeString('username'),
    email: t.exposeString('email', { nullable: true }),
    role: t.field({ type: RoleEnum, resolve: (user) => user.role }),
    enabled: t.exposeBoolean('enabled'),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
  }),
});

const AuthMethodEnum = builder.enumType('AuthMethod', {
  values: {
    SESSION: { value: 'session', description: 'A browser session (the runboard_session cookie).' },
    API_KEY: { value: 'apiKey', description: 'An API key, as a Bearer token or the password of HTTP Basic.' },
    PASSWORD: { value: 'password', description: 'A username and password in HTTP Basic.' },
  } as const,
});

const ViewerRef = builder.objectRef<Viewer>('Viewer').implement({
  description: 'The signed-in caller.',
  fields: (t) => ({
    user: t.field({ type: UserRef, resolve: (viewer) => viewer.user }),
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
  users: t.withAuth({ role: 'admin' }).field({
    type: [UserRef],
    description: 'Every user, by username. Admins only.',
    resolve: (_root, _args, ctx) => listUsers(ctx.app.db),
  }),
  user: t.withAuth({ role: 'admin' }).field({
    type: UserRef,
    nullable: true,
    description: 'One user by id. Admins only.',
    args: { id: t.arg.id({ required: true }) },
    resolve: (_root, { id }, ctx) => (isUuid(String(id)) ? findUserById(ctx.app.db, String(id)) : null),
  }),
}));

function publishUser(ctx: Context, kind: UserChangeKind, user: User): void {
  ctx.app.pubsub.publish('userChanged', { kind, user });
}

const SignInInput = builder.inputType('SignInInput', {
  fields: (t) => ({
    username: t.string({ required: true }),
    password: t.string({ required: true }),
  }),
});

const CreateUserInput = builder.inputType('CreateUserInput', {
  fields: (t) => ({
    username: t.string({ required: true, description: '1–64 letters, digits, dots, dashes or underscores.' }),
    email: t.string(),
    password: t.string({ required: true, description: 'At least 12 characters.' }),
    role: t.field({ type: RoleEnum, required: true }),
  }),
});

const UpdateUserInput = builder.inputType('UpdateUserInput', {
  description: 'Only the fields given change. Disabling a user or setting a password ends their sessions.',
  fields: (t) => ({
    id: t.id({ required: true }),
    username: t.string(),
    email: t.string({ description: 'An empty string removes the email.' }),
    password: t.string(),
    role: t.field({ type: RoleEnum }),
    enabled: t.boolean(),
  }),
});

const ChangePasswordInput = builder.inputType('ChangePasswordInput', {
  fields: (t) => ({
    currentPassword: t.string({ required: true }),
    newPassword: t.string({ required: true }),
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
    args: { input: t.arg({ type: SignInInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      if (ctx.transport !== 'http') throw new ValidationError('Sign in over HTTP: a WebSocket cannot receive the session cookie.');
      const { user, session } = await signIn(ctx.app, { ...input, ip: ctx.ip, userAgent: ctx.userAgent });
      if (ctx.viewer?.sessionId) await ctx.app.sessions.end(ctx.viewer.sessionId);
      ctx.setCookie(ctx.app.sessions.cookie(session.id, ctx.secure));
      ctx.log.info({ userId: user.id, username: user.username }, 'signed in');
      return { user, role: user.role, via: 'session' as const, sessionId: session.id };
    },
  }),
  signOut: t.boolean({
    skipTypeScopes: true,
    description: 'Ends the current session and clears its cookie. True when a session was ended.',
    resolve: async (_root, _args, ctx) => {
      if (ctx.transport === 'http') ctx.setCookie(ctx.app.sessions.blankCookie(ctx.secure));
      if (!ctx.viewer?.sessionId) return false;
      await ctx.app.sessions.end(ctx.viewer.sessionId);
      return true;
    },
  }),
  changePassword: t.withAuth({ signedIn: true }).boolean({
    description: 'Changes your own password. Every session of yours ends; the one you are using is replaced by a new one.',
    errors: { types: [ValidationError] },
    args: { input: t.arg({ type: ChangePasswordInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await changeOwnPassword(ctx.app, ctx.viewer.user, input);
      if (ctx.viewer.via === 'session' && ctx.transport === 'http') await openSession(ctx, ctx.viewer.user.id);
      return true;
    },
  }),
  createUser: t.withAuth({ role: 'admin' }).field({
    type: UserRef,
    description: 'Creates a user. Admins only.',
    errors: { types: [ValidationError, ConflictError] },
    args: { input: t.arg({ type: CreateUserInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const user = await createUser(ctx.app, { ...input, role: input.role as Role });
      publishUser(ctx, 'CREATED', user);
      return user;
    },
  }),
  updateUser: t.withAuth({ role: 'admin' }).field({
    type: UserRef,
    description: 'Changes a user. Admins only. The last enabled admin cannot be demoted or disabled.',
    errors: { types: [ValidationError, ConflictError, NotFoundError] },
    args: { input: t.arg({ type: UpdateUserInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const user = await updateUser(ctx.app, ctx.viewer.user.id, {
        id: String(input.id),
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
    type: UserRef,
    description: 'Deletes a user, their sessions and their API keys, and returns what was deleted. Admins only; not yourself.',
    errors: { types: [ValidationError, ConflictError, NotFoundError] },
    args: { id: t.arg.id({ required: true }) },
    resolve: async (_root, { id }, ctx) => {
      const user = await deleteUser(ctx.app, ctx.viewer.user.id, String(id));
      publishUser(ctx, 'DELETED', user);
      return user;
    },
  }),
}));

const UserChangeKindEnum = builder.enumType('UserChangeKind', { values: ['CREATED', 'UPDATED', 'DELETED'] as const });

const UserChangeRef = builder.objectRef<{ kind: UserChangeKind; user: User }>('UserChange').implement({
  fields: (t) => ({
    kind: t.field({ type: UserChangeKindEnum, resolve: (change) => change.kind }),
    user: t.field({ type: UserRef, resolve: (change) => change.user }),
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
