/**
 * Every root field of the schema against every kind of caller: refused below its role, let
 * through at it. A field missing from the rules (test/rules/, one file per domain) fails the
 * suite, so new operations must declare who may use them. A host's agent key is one more kind
 * of caller (over graphql-ws): let through on the agent operations only, which every person is
 * refused.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { schema } from '../graphql/schema';
import { startTestServer, type TestServer } from './support/server';
import { runOnce, wsClient } from './support/ws';
import { rules as agent } from './rules/agent.rules';
import { rules as attachment } from './rules/attachment.rules';
import { rules as check } from './rules/check.rules';
import { rules as core } from './rules/core.rules';
import { rules as group } from './rules/group.rules';
import { rules as host } from './rules/host.rules';
import { rules as notification } from './rules/notification.rules';
import { rules as options } from './rules/options.rules';
import type { Level, Rules } from './rules/rule';
import { rules as run } from './rules/run.rules';
import { rules as schedule } from './rules/schedule.rules';
import { rules as script } from './rules/script.rules';

const LEVELS: Level[] = ['anonymous', 'viewer', 'operator', 'admin'];

const RULES: Rules = {
  ...core,
  ...host,
  ...group,
  ...script,
  ...attachment,
  ...schedule,
  ...run,
  ...check,
  ...options,
  ...notification,
  ...agent,
};

/** The operation's result over graphql-ws, as a refusal code (undefined: let through). */
async function overWebSocket(url: string, params: { apiKey?: string }, operation: string): Promise<{ code: string | undefined; message: string }> {
  const client = wsClient(url, params);
  const outcome = await runOnce(client, operation, undefined, 1500);
  await client.dispose();
  let code: string | undefined;
  if (outcome.closed) code = outcome.closed.code === 4401 ? 'UNAUTHENTICATED' : `closed ${outcome.closed.code}`;
  else code = outcome.errors?.[0]?.extensions?.code ?? (outcome.errors?.[0]?.message === 'timed out' ? undefined : 'other');
  return { code, message: outcome.closed?.reason ?? outcome.errors?.[0]?.message ?? '' };
}

function rootFields(): string[] {
  return (['Query', 'Mutation', 'Subscription'] as const).flatMap((root) => {
    const type = root === 'Query' ? schema.getQueryType() : root === 'Mutation' ? schema.getMutationType() : schema.getSubscriptionType();
    return Object.keys(type?.getFields() ?? {}).map((field) => `${root}.${field}`);
  });
}

describe('roles on every operation', () => {
  let server: TestServer;
  const keys: Partial<Record<Level, string>> = {};
  let hostKey: string;

  beforeAll(async () => {
    server = await startTestServer();
    for (const role of ['viewer', 'operator'] as const) {
      await server.createUser(`matrix-${role}`, role);
      const cookie = await server.signIn(`matrix-${role}`, `matrix-${role}-password-123`);
      keys[role] = await server.createKey(cookie, 'matrix');
    }
    keys.admin = await server.createKey(server.adminCookie, 'matrix');
    const host = await server.gql(`mutation { createHost(input: { name: "matrix-agent" }) { ... on CreateHostSuccess { data { agentKey } } } }`, {}, { cookie: server.adminCookie });
    hostKey = host.data.createHost.data.agentKey;
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
        const allowed = rule.minimum !== 'agent' && LEVELS.indexOf(level) >= LEVELS.indexOf(rule.minimum);
        let code: string | undefined;
        let message = '';
        if (field.startsWith('Subscription.')) {
          ({ code, message } = await overWebSocket(server.url, { apiKey }, rule.operation));
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
      // An agent's host key: the agent operations only (graphql-ws is how agents connect).
      const asAgent = await overWebSocket(server.url, { apiKey: hostKey }, rule.operation);
      if (rule.minimum === 'agent') expect(['UNAUTHENTICATED', 'FORBIDDEN'], `${field} as an agent: ${asAgent.message}`).not.toContain(asAgent.code);
      else expect(asAgent.code, `${field} as an agent: ${asAgent.message}`).toBe('FORBIDDEN');
    });
  }
});
