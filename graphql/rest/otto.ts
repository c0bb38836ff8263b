/**
 * Otto (seeds/otto-api.md, COMPAT.md "Otto"): hosts, groups, scripts, schedules and their
 * reports, attachments, users, options, events, agent registration and remote execution.
 *
 * Every answer is Otto's envelope: `{"code":200,"error":{},"data":…}` on success (HTTP 200),
 * `{"code":N,"error":{"code":N,"message":"…"}}` with HTTP status N on failure. The session is
 * the `otto-session` cookie (a Runboard session under Otto's name); Basic and Bearer work too.
 */
import type { Credentials } from '../../core/auth.service';
import { ottoExecutionRoutes, ottoUpgrades } from './otto-execution';
import { RestFailure, type Dialect, type RestReply, type Route } from './route-table';

export const OTTO_SESSION_COOKIE = 'otto-session';

const OTTO_PATH = /^\/api\/(login|logout|hosts|register|heartbeat|groups|schedules|scripts|attachments|action|users|state|options|events)(\/|$)/;

const JSON_TYPE = { 'content-type': 'application/json' };

/** A successful Otto answer; `data` left out when there is none (logout). */
export function ok(data?: unknown): RestReply {
  return { status: 200, headers: JSON_TYPE, body: JSON.stringify(data === undefined ? { code: 200, error: {} } : { code: 200, error: {}, data }) };
}

/** Otto's words for the statuses it uses. */
const STATUS_MESSAGES: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 500: 'Server Error' };

export function ottoError(status: number, message: string): RestReply {
  return { status, headers: JSON_TYPE, body: JSON.stringify({ code: status, error: { code: status, message } }) };
}

/** Reads the otto-session cookie. */
function sessionCookie(cookieHeader: string | undefined): string | undefined {
  for (const part of (cookieHeader ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name === OTTO_SESSION_COOKIE && value.length > 0) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

/** The resource routes (hosts, groups, scripts, schedules, users, options, events, login). */
const resourceRoutes: Route[] = [];

export const otto: Dialect = {
  name: 'otto',
  owns: (pathname) => OTTO_PATH.test(pathname),
  routes: [...resourceRoutes, ...ottoExecutionRoutes],
  upgrades: ottoUpgrades,
  credentials(req): Credentials | undefined {
    if (req.headers.authorization) return undefined;
    const sessionId = sessionCookie(req.headers.cookie);
    return sessionId ? { kind: 'session', sessionId } : undefined;
  },
  error(failure: RestFailure): RestReply {
    // Otto refuses an anonymous caller with 403 "unauthorized".
    if (failure.kind === 'unauthenticated') return ottoError(403, 'unauthorized');
    const status = failure.status === 415 || failure.status === 413 || failure.status === 405 ? 400 : failure.status;
    const message = failure.kind === 'internal' ? STATUS_MESSAGES[500]! : failure.message || (STATUS_MESSAGES[status] ?? 'Bad Request');
    return ottoError(status, message);
  },
};
