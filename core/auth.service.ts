/**
 * Who is calling: turns the credentials of a request (session cookie, bearer key, HTTP Basic
 * with a key or a password) into a Viewer, and signs people in and out.
 */
import type { Db } from '../db/database';
import { findApiKeyByPrefix, touchApiKey } from '../db/api-key.repository';
import { findUserById, findUserCredentials, type User } from '../db/user.repository';
import { viewerFromAccessKey, type SignedRequest } from './access-key.service';
import { apiKeyMatches, apiKeyPrefix, hashApiKeyToken } from './api-key';
import { UnauthenticatedError, ValidationError } from './errors';
import { throttleKeys, type LoginThrottle } from './login-throttle';
import { PASSWORD_MAX_LENGTH, spendVerifyTime, verifyPassword } from './password';
import { weakerRole, type Role } from './roles';
import type { SecretBox } from './secrets';
import type { ActiveSession, SessionStore } from './session';

export interface AuthDeps {
  db: Db;
  sessions: SessionStore;
  throttle: LoginThrottle;
  /** Opens access key secrets to check signatures. */
  secrets: SecretBox;
}

/** The signed-in caller of a request. */
export interface Viewer {
  user: User;
  /** What the caller may do: the user's role, lowered to the key's ceiling for API keys. */
  role: Role;
  via: 'session' | 'apiKey' | 'password' | 'accessKey';
  sessionId?: string;
  apiKeyId?: string;
  /** When the API key expires (epoch ms), for keys. */
  apiKeyExpiresAt?: number | null;
  accessKeyId?: string;
}

export type Credentials =
  | { kind: 'session'; sessionId: string }
  | { kind: 'bearer'; token: string }
  | { kind: 'basic'; username: string; secret: string }
  /** A request signed with an access key (VirtShell's header); only a REST dialect reads these. */
  | ({ kind: 'accessKey' } & SignedRequest);

/**
 * Reads credentials from request headers. An Authorization header wins over the cookie.
 * Throws UnauthenticatedError for an Authorization header that cannot be read.
 */
export function readCredentials(
  headers: { authorization?: string | null; cookie?: string | null },
  sessions: SessionStore,
): Credentials | undefined {
  const authorization = headers.authorization?.trim();
  if (authorization) {
    const [scheme = '', value = ''] = authorization.split(/\s+/, 2);
    if (/^bearer$/i.test(scheme) && value) return { kind: 'bearer', token: value };
    if (/^basic$/i.test(scheme) && value) {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { kind: 'basic', username: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
      throw new UnauthenticatedError('The Basic credentials are malformed: send base64 of "username:password-or-key".');
    }
    throw new UnauthenticatedError('Unsupported Authorization header: use "Bearer <api key>" or "Basic <base64 of username:password-or-key>".');
  }
  const sessionId = sessions.readCookie(headers.cookie);
  return sessionId ? { kind: 'session', sessionId } : undefined;
}

/**
 * Keys verified in the last KEY_CACHE_MS, so a script reporting many times a second costs no
 * query to authenticate. Emptied whenever a key or a user changes (`forgetVerifiedKeys`, called
 * on every instance through the pubsub), so a revoked key or a disabled account is refused at
 * once; the time limit bounds what a missed message could leave behind.
 */
const KEY_CACHE_MS = 2_000;
const KEY_CACHE_MAX = 10_000;
const verifiedKeys = new Map<string, { viewer: Viewer; until: number; keyExpiresAt: number | null }>();

/** Forgets every verified key: call when any key or user changes. */
export function forgetVerifiedKeys(): void {
  verifiedKeys.clear();
}

async function viewerFromKey(deps: AuthDeps, token: string, ip: string, username?: string): Promise<Viewer> {
  const cacheKey = `${username?.toLowerCase() ?? ''}\n${hashApiKeyToken(token).toString('base64')}`;
  const cached = verifiedKeys.get(cacheKey);
  const now = Date.now();
  if (cached && cached.until > now && (cached.keyExpiresAt === null || cached.keyExpiresAt > now)) return cached.viewer;
  const viewer = await verifyKey(deps, token, ip, username);
  if (verifiedKeys.size >= KEY_CACHE_MAX) verifiedKeys.clear();
  verifiedKeys.set(cacheKey, { viewer, until: now + KEY_CACHE_MS, keyExpiresAt: viewer.apiKeyExpiresAt ?? null });
  return viewer;
}

async function verifyKey(deps: AuthDeps, token: string, ip: string, username?: string): Promise<Viewer> {
  const ipKey = throttleKeys.ip(ip);
  deps.throttle.check([ipKey]);
  const refuse = (message: string) => {
    deps.throttle.fail([ipKey]);
    return new UnauthenticatedError(message);
  };
  const prefix = apiKeyPrefix(token);
  const found = prefix ? await findApiKeyByPrefix(deps.db, prefix) : undefined;
  if (!found || !apiKeyMatches(token, found.secretHash)) throw refuse('The API key is not valid.');
  const { key } = found;
  if (key.revokedAt) throw refuse(`The API key "${key.name}" was revoked.`);
  if (key.expiresAt && key.expiresAt.getTime() <= Date.now()) {
    throw refuse(`The API key "${key.name}" expired at ${key.expiresAt.toISOString()}.`);
  }
  const user = await findUserById(deps.db, key.userId);
  if (!user || (username !== undefined && user.username.toLowerCase() !== username.toLowerCase())) {
    throw refuse('The API key is not valid.');
  }
  if (!user.enabled) throw refuse(`The account "${user.username}" that owns this API key is disabled.`);
  await touchApiKey(deps.db, key.id);
  return { user, role: weakerRole(user.role, key.roleCeiling), via: 'apiKey', apiKeyId: key.id, apiKeyExpiresAt: key.expiresAt?.getTime() ?? null };
}

/** Checks a username and password, counting failures against the throttle. */
async function checkPassword(deps: AuthDeps, username: string, password: string, ip: string): Promise<User> {
  const keys = [throttleKeys.username(username), throttleKeys.ip(ip)];
  deps.throttle.check(keys);
  const found = await findUserCredentials(deps.db, username);
  if (!found?.passwordHash) {
    await spendVerifyTime(password);
    deps.throttle.fail(keys);
    throw new UnauthenticatedError('Wrong username or password.');
  }
  if (!(await verifyPassword(found.passwordHash, password))) {
    deps.throttle.fail(keys);
    throw new UnauthenticatedError('Wrong username or password.');
  }
  if (!found.user.enabled) throw new UnauthenticatedError(`The account "${found.user.username}" is disabled.`);
  deps.throttle.succeed([keys[0]!]);
  return found.user;
}

export interface Authenticated {
  viewer: Viewer | null;
  /** Set when the request carried a session cookie that is no longer valid: clear it. */
  staleSession: boolean;
}

/**
 * Resolves credentials into a viewer. Invalid keys or passwords throw UnauthenticatedError (a
 * caller who sent credentials wants to know they failed); an expired session is just anonymous.
 */
export async function authenticate(deps: AuthDeps, credentials: Credentials | undefined, ip: string): Promise<Authenticated> {
  if (!credentials) return { viewer: null, staleSession: false };
  switch (credentials.kind) {
    case 'session': {
      const session = await deps.sessions.validate(credentials.sessionId);
      const user = session?.user;
      if (!session || !user?.enabled) {
        if (session) await deps.sessions.end(session.id);
        return { viewer: null, staleSession: true };
      }
      return { viewer: { user, role: user.role, via: 'session', sessionId: session.id }, staleSession: false };
    }
    case 'bearer':
      return { viewer: await viewerFromKey(deps, credentials.token, ip), staleSession: false };
    case 'basic': {
      if (apiKeyPrefix(credentials.secret)) {
        return { viewer: await viewerFromKey(deps, credentials.secret, ip, credentials.username), staleSession: false };
      }
      if (credentials.username.length > 64 || credentials.secret.length > PASSWORD_MAX_LENGTH) {
        throw new UnauthenticatedError('Wrong username or password.');
      }
      const user = await checkPassword(deps, credentials.username, credentials.secret, ip);
      return { viewer: { user, role: user.role, via: 'password' }, staleSession: false };
    }
    case 'accessKey':
      return { viewer: await viewerFromAccessKey(deps, credentials, ip), staleSession: false };
  }
}

/** Signs in with a password and opens a session. */
export async function signIn(
  deps: AuthDeps,
  input: { username: string; password: string; ip: string; userAgent: string | null },
): Promise<{ user: User; session: ActiveSession }> {
  const username = input.username.trim();
  if (!username || !input.password) {
    throw new ValidationError('Enter a username and a password.', [
      ...(username ? [] : [{ path: ['input', 'username'], message: 'Enter a username.' }]),
      ...(input.password ? [] : [{ path: ['input', 'password'], message: 'Enter a password.' }]),
    ]);
  }
  if (username.length > 64 || input.password.length > PASSWORD_MAX_LENGTH) {
    throw new UnauthenticatedError('Wrong username or password.');
  }
  const user = await checkPassword(deps, username, input.password, input.ip);
  const session = await deps.sessions.create(user.id, { ip: input.ip, userAgent: input.userAgent?.slice(0, 512) ?? null });
  return { user, session };
}
