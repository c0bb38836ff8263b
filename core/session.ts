/**
 * Browser sessions. This is the only file that knows about Lucia (v3, no longer developed):
 * replacing it means rewriting this file alone.
 *
 * Sessions expire after `idleSeconds` without a request. Each validation pushes the expiry
 * forward (at most once per `idleSeconds / 10`, capped at a minute, to spare the database a write
 * per request). The cookie itself has no expiry: the server decides when a session is over.
 */
import { createHash } from 'node:crypto';
import { Lucia, TimeSpan, type Adapter, type DatabaseSession, type DatabaseUser } from 'lucia';
import type { Db } from '../db/database';
import type { User } from '../db/user.repository';
import {
  deleteExpiredSessions,
  deleteSession,
  deleteSessionsOfUser,
  findSession,
  findSessionWithUser,
  insertSession,
  listSessionsOfUser,
  updateSessionExpiry,
} from '../db/session.repository';

export const SESSION_COOKIE = 'runboard_session';

interface SessionMeta {
  ip: string | null;
  userAgent: string | null;
}

declare module 'lucia' {
  interface Register {
    Lucia: Lucia<SessionMeta, { account: User }>;
    DatabaseSessionAttributes: SessionMeta;
    /** The user, read with the session in one query. */
    DatabaseUserAttributes: { account: User };
  }
}

/** A valid session, after its expiry has been pushed forward. */
export interface ActiveSession {
  id: string;
  userId: string;
  expiresAt: Date;
}

/** A validated session and its user (as the database holds it now). */
export interface ValidSession extends ActiveSession {
  user: User;
}

export interface SessionStore {
  create(userId: string, meta: SessionMeta): Promise<ActiveSession>;
  /** The session if it exists and has not expired; slides its expiry. */
  validate(sessionId: string): Promise<ValidSession | null>;
  /** The session if it exists and has not expired, without sliding it (for long-lived sockets). */
  peek(sessionId: string): Promise<ActiveSession | null>;
  end(sessionId: string): Promise<void>;
  endAllOf(userId: string): Promise<void>;
  deleteExpired(): Promise<void>;
  /** The session id in a Cookie header, if any. */
  readCookie(cookieHeader: string | null | undefined): string | null;
  /** A Set-Cookie value carrying the session. */
  cookie(sessionId: string, secure: boolean): string;
  /** A Set-Cookie value that removes the session cookie. */
  blankCookie(secure: boolean): string;
}

/**
 * Session ids are stored as their SHA-256, like API keys: a leaked copy of the table opens no
 * session. Lucia only ever hands the adapter the real id, which is hashed on the way in.
 */
function storedId(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('hex');
}

function kyselyAdapter(db: Db): Adapter {
  const toDatabaseSession = (s: { id: string; userId: string; expiresAt: Date; ip: string | null; userAgent: string | null }): DatabaseSession => ({
    id: s.id,
    userId: s.userId,
    expiresAt: s.expiresAt,
    attributes: { ip: s.ip, userAgent: s.userAgent },
  });
  return {
    async getSessionAndUser(sessionId) {
      const found = await findSessionWithUser(db, storedId(sessionId));
      if (!found) return [null, null];
      const user: DatabaseUser = { id: found.session.userId, attributes: { account: found.user } };
      return [toDatabaseSession({ ...found.session, id: sessionId }), user];
    },
    // Only the stored hashes are known here; Runboard lists sessions by these, never by real ids.
    async getUserSessions(userId) {
      return (await listSessionsOfUser(db, userId)).map(toDatabaseSession);
    },
    async setSession(session) {
      await insertSession(db, {
        id: storedId(session.id),
        userId: session.userId,
        expiresAt: session.expiresAt,
        ip: session.attributes.ip,
        userAgent: session.attributes.userAgent,
      });
    },
    updateSessionExpiration: (sessionId, expiresAt) => updateSessionExpiry(db, storedId(sessionId), expiresAt),
    deleteSession: (sessionId) => deleteSession(db, storedId(sessionId)),
    deleteUserSessions: (userId) => deleteSessionsOfUser(db, userId),
    deleteExpiredSessions: () => deleteExpiredSessions(db),
  };
}

export function createSessionStore(db: Db, idleSeconds: number): SessionStore {
  const adapter = kyselyAdapter(db);
  const lucia = new Lucia(adapter, {
    sessionExpiresIn: new TimeSpan(idleSeconds, 's'),
    sessionCookie: { name: SESSION_COOKIE, expires: false, attributes: { sameSite: 'lax', secure: false } },
    getUserAttributes: (attributes) => ({ account: attributes.account }),
  });
  const slideEveryMs = Math.min(60_000, (idleSeconds * 1000) / 10);

  const withSecure = (cookie: ReturnType<Lucia['createSessionCookie']>, secure: boolean) => {
    cookie.attributes.secure = secure;
    return cookie.serialize();
  };

  return {
    async create(userId, meta) {
      const session = await lucia.createSession(userId, meta);
      return { id: session.id, userId: session.userId, expiresAt: session.expiresAt };
    },
    async validate(sessionId) {
      const { session, user } = await lucia.validateSession(sessionId);
      if (!session || !user) return null;
      let expiresAt = session.expiresAt;
      const slid = Date.now() + idleSeconds * 1000;
      if (slid - expiresAt.getTime() >= slideEveryMs) {
        expiresAt = new Date(slid);
        await adapter.updateSessionExpiration(session.id, expiresAt);
      }
      return { id: session.id, userId: session.userId, expiresAt, user: user.account };
    },
    async peek(sessionId) {
      const session = await findSession(db, storedId(sessionId));
      if (!session || session.expiresAt.getTime() <= Date.now()) return null;
      return { id: sessionId, userId: session.userId, expiresAt: session.expiresAt };
    },
    end: (sessionId) => lucia.invalidateSession(sessionId),
    endAllOf: (userId) => lucia.invalidateUserSessions(userId),
    deleteExpired: () => lucia.deleteExpiredSessions(),
    readCookie: (header) => (header ? lucia.readSessionCookie(header) : null),
    cookie: (sessionId, secure) => withSecure(lucia.createSessionCookie(sessionId), secure),
    blankCookie: (secure) => withSecure(lucia.createBlankSessionCookie(), secure),
  };
}
