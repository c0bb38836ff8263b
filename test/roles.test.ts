/**
 * Every root field of the schema against every kind of caller: refused below its role, let
 * through at it. A field missing from RULES fails the suite, so new operations must declare
 * who may use them.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../graphql/schema';
import { startTestServer, type TestServer } from './support/server';
import { runOnce, wsClient } from './support/ws';

type Level = 'anonymous' | 'viewer' | 'operator' | 'admin';
const LEVELS: Level[] = ['anonymous', 'viewer', 'operator', 'admin'];

interface Rule {
  minimum: Level;
  /** An operation that uses the field harmlessly (it may fail with a typed error, never a refusal). */
  operation: string;
}

const RULES: Record<string, Rule> = {
  'Query.viewer': { minimum: 'anonymous', operation: `{ viewer { role } }` },
  'Query.apiKeys': { minimum: 'viewer', operation: `{ apiKeys { id } }` },
  'Query.users': { minimum: 'admin', operation: `{ users { id } }` },
  'Query.user': { minimum: 'admin', operation: `{ user(id: "${randomUUID()}") { id } }` },
  'Mutation.signIn': { minimum: 'anonymous', operation: `mutation { signIn(input: { username: "x", password: "y" }) { __typename } }` },
  'Mutation.signOut': { minimum: 'anonymous', operation: `mutation { signOut }` },
  'Mutation.changePassword': {
    minimum: 'viewer',
    operation: `mutation { changePassword(input: { currentPassword: "wrong-wrong-wrong", newPassword: "new-password-123" }) { __typename } }`,
  },
  'Mutation.createApiKey': { minimum: 'viewer', operation: `mutation { createApiKey(input: { name: "k-${randomUUID()}" }) { __typename } }` },
  'Mutation.revokeApiKey': { minimum: 'viewer', operation: `mutation { revokeApiKey(id: "${randomUUID()}") { __typename } }` },
  'Mutation.createUser': { minimum: 'admin', operation: `mutation { createUser(input: { username: "u", password: "short", role: VIEWER }) { __typename } }` },
  'Mutation.updateUser': { minimum: 'admin', operation: `mutation { updateUser(input: { id: "${randomUUID()}" }) { __typename } }` },
  'Mutation.deleteUser': { minimum: 'admin', operation: `mutation { deleteUser(id: "${randomUUID()}") { __typename } }` },
  'Subscription.userChanged': { minimum: 'admin', operation: `subscription { userChanged { kind } }` },
};

function rootFields(): string[] {
  return (['Query', 'Mutation', 'Subscription'] as const).flatMap((root) => {
    const type = root === 'Query' ? schema.getQueryType() : root === 'Mutation' ? schema.getMutationType() : schema.getSubscriptionType();
    return Object.keys(type?.getFields() ?? {}).map((field) => `${root}.${field}`);
  });
}

describe('roles on every operation', () => {
  let server: TestServer;
  const keys: Partial<Record<Level, string>> = {};

  beforeAll(async () => {
    server = await startTestServer();
    for (const role of ['viewer', 'operator'] as const) {
      await server.createUser(`matrix-${role}`, role);
      const cookie = await server.signIn(`matrix-${role}`, `matrix-${role}-password-123`);
      keys[role] = await server.createKey(cookie, 'matrix');
    }
    keys.admin = await server.createKey(server.adminCookie, 'matrix');
  });
  afterAll(() => server?.close());

  it('has a rule for every root field of the schema', () => {
    expect(rootFields().filter((field) => !RULES[field]), 'fields without a rule in RULES').toEqual([]);
    expect(Object.keys(RULES).filter((field) => !rootFields().includes(field)), 'rules for fields that no longer exist').toEqual([]);
  });

  for (const [field, rule] of Object.entries(RULES)) {
    it(`${field} needs ${rule.minimum}`, async () => {
      for (const level of LEVELS) {
        const apiKey = keys[level as Exclude<Level, 'anonymous'>];
        const allowed = LEVELS.indexOf(level) >= LEVELS.indexOf(rule.minimum);
        let code: string | undefined;
        let message = '';
        if (field.startsWith('Subscription.')) {
          const client = wsClient(server.url, { apiKey });
          const outcome = await runOnce(client, rule.operation, undefined, 1500);
          await client.dispose();
          if (outcome.closed) code = outcome.closed.code === 4401 ? 'UNAUTHENTICATED' : `closed ${outcome.closed.code}`;
          else code = outcome.errors?.[0]?.extensions?.code ?? (outcome.errors?.[0]?.message === 'timed out' ? undefined : 'other');
          message = outcome.closed?.reason ?? outcome.errors?.[0]?.message ?? '';
        } else {
          const result = await server.gql(rule.operation, {}, { headers: apiKey ? { authorization: `Bearer ${apiKey}` } : {} });
          code = result.errors?.[0]?.extensions?.code;
          message = result.errors?.[0]?.message ?? '';
          if (!allowed) expect(result.status, `${field} as ${level}`).toBe(level === 'anonymous' ? 401 : 403);
        }
        if (allowed) {
          expect(['UNAUTHENTICATED', 'FORBIDDEN'], `${field} as ${level}: ${message}`).not.toContain(code);
        } else {
          expect(code, `${field} as ${level}: ${message}`).toBe(level === 'anonymous' ? 'UNAUTHENTICATED' : 'FORBIDDEN');
        }
      }
    });
  }
});
