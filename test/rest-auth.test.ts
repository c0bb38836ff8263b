/**
 * Auth over every legacy route, generated from the dialects' route tables (graphql/rest/): each
 * route × {anonymous, wrong credentials, viewer, operator, admin}. A caller below the route's
 * declared access is refused the way its dialect refuses (401/403, or ndscheduler's redirect to
 * its login page) and nothing is written; a caller at or above it gets past auth (its answer may
 * still be a 4xx for the dummy ids and empty bodies used here, never a refusal and never a 5xx).
 * A route added to a table is covered without touching this file.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../core/roles';
import { DIALECTS } from '../graphql/rest';
import type { Route, RouteAccess } from '../graphql/rest/route-table';
import { basic, startTestServer, type TestServer } from './support/server';

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };
const DUMMY_UUID = '6f1c2b7e-0d4a-4b8e-9a51-3c2d1e0f9a87';

type Caller = 'anonymous' | 'wrong' | Role;
const CALLERS: Caller[] = ['anonymous', 'wrong', 'viewer', 'operator', 'admin'];

/** Whether `caller` may use a route with `access`. */
function allowed(access: RouteAccess, caller: Caller): boolean {
  if (access === 'none') return true;
  if (caller === 'anonymous' || caller === 'wrong') return false;
  return RANK[caller] >= RANK[access === 'checkin' ? 'operator' : access];
}

/** A concrete request for a route: its `:params` and wildcard filled with harmless dummy values. */
function requestFor(route: Route, method: string): { method: string; path: string } {
  const path = route.path
    .split('/')
    .map((segment) => (segment === '*' ? 'no-such-thing' : segment.startsWith(':') ? (/id$/i.test(segment) ? DUMMY_UUID : 'no-such-thing') : segment))
    .join('/');
  return { method, path: route.probe?.(method) ?? path };
}

const cases = DIALECTS.flatMap((dialect) => [
  ...dialect.routes.flatMap((route) =>
    (typeof route.method === 'string' ? [route.method] : [...route.method]).map((method) => ({ dialect: dialect.name, route: { path: route.path, access: route.access }, ...requestFor(route, method) })),
  ),
  // Endpoints one row serves (Sloth CI's actions), each with its own access.
  ...(dialect.probes ?? []).map((probe) => ({ dialect: dialect.name, route: { path: probe.path, access: probe.access }, method: probe.method, path: probe.path })),
]);

describe('auth over every legacy route', () => {
  let server: TestServer;
  const headers: Record<Caller, Record<string, string>> = { anonymous: {}, wrong: {}, viewer: {}, operator: {}, admin: {} };

  beforeAll(async () => {
    // Many wrong credentials from one address: the throttle must not turn them into 429s here.
    server = await startTestServer({ pubsub: 'memory', loginMaxFailures: 1_000_000 });
    for (const role of ['viewer', 'operator'] as const) {
      await server.createUser(`auth-${role}`, role);
      const key = await server.createKey(await server.signIn(`auth-${role}`, `auth-${role}-password-123`), `${role} key`);
      headers[role] = { authorization: `Bearer ${key}` };
    }
    headers.admin = { authorization: `Bearer ${await server.createKey(server.adminCookie, 'admin key')}` };
    headers.wrong = { authorization: basic('auth-operator', 'not-the-password') };
  });
  afterAll(() => server?.close());

  const written = async () => {
    const { rows } = await sql<{ n: string }>`
      select (select count(*) from checks) + (select count(*) from pings) + (select count(*) from runs) + (select count(*) from scripts)
        + (select count(*) from schedules) + (select count(*) from hosts) + (select count(*) from groups) + (select count(*) from users)
        + (select count(*) from attachments) + (select count(*) from api_keys) as n`.execute(server.app.db);
    return rows[0]!.n;
  };

  it('every dialect has routes, each with a declared access', () => {
    expect(cases.length).toBeGreaterThan(20);
    for (const { route } of cases) expect(['none', 'checkin', 'viewer', 'operator', 'admin']).toContain(route.access);
  });

  for (const { dialect, route, method, path } of cases) {
    if (route.access === 'none') continue;
    it(`${dialect}: ${method} ${route.path} (${route.access})`, async () => {
      for (const caller of CALLERS) {
        const before = await written();
        const body = method === 'GET' || method === 'HEAD' || method === 'OPTIONS' ? undefined : '{}';
        const response = await fetch(`${server.url}${path}`, {
          method,
          redirect: 'manual',
          headers: { ...(body && { 'content-type': 'application/json' }), ...headers[caller] },
          body,
        });
        const text = await response.text();
        const what = `${caller} → ${response.status} ${text.slice(0, 200)}`;
        expect(response.status, what).toBeLessThan(500);
        if (allowed(route.access, caller)) {
          expect([401, 403].includes(response.status) || (response.status === 302 && /\/login/.test(response.headers.get('location') ?? '')), what).toBe(false);
        } else {
          const redirected = response.status === 302 && /^\/login\?next=/.test(response.headers.get('location') ?? '');
          expect(redirected || response.status === 401 || response.status === 403, what).toBe(true);
          if (response.status === 401 && dialect !== 'otto') expect(response.headers.get('www-authenticate'), what).toBeTruthy();
          expect(await written(), `${what}: nothing may be written`).toBe(before);
        }
      }
    });
  }
});
