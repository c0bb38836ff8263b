import { randomUUID } from 'node:crypto';
import type { Rules } from './rule';
import { gid } from './core.rules';

/** Root fields of the script domain and the least role each needs. */
export const rules: Rules = {
  'Query.scripts': { minimum: 'viewer', operation: `{ scripts(first: 1, search: "x", filter: { enabled: true }) { edges { node { id } } } }` },
  // An empty name is refused by validation: harmless, and not a refusal of the role.
  'Mutation.createScript': { minimum: 'admin', operation: `mutation { createScript(input: { name: "" }) { __typename } }` },
  'Mutation.updateScript': { minimum: 'admin', operation: `mutation { updateScript(input: { id: "${gid('Script')}" }) { __typename } }` },
  'Mutation.setScriptGroups': {
    minimum: 'admin',
    operation: `mutation { setScriptGroups(input: { scriptId: "${randomUUID()}", groupIds: [] }) { __typename } }`,
  },
  'Mutation.deleteScript': { minimum: 'admin', operation: `mutation { deleteScript(id: "${gid('Script')}") { __typename } }` },
  // Sloth CI apps (graphql/sloth-app.ts): each refused harmlessly (bad YAML, no such listen point).
  'Mutation.createSlothApp': { minimum: 'admin', operation: `mutation { createSlothApp(configString: "") { __typename } }` },
  'Mutation.bindSlothConfigFile': {
    minimum: 'admin',
    operation: `mutation { bindSlothConfigFile(input: { listenPoint: "no-such-app-${randomUUID()}", configFile: "/nonexistent.yml" }) { __typename } }`,
  },
  'Mutation.reloadSlothApps': { minimum: 'admin', operation: `mutation { reloadSlothApps { __typename } }` },
  'Mutation.triggerListenPoint': {
    minimum: 'operator',
    operation: `mutation { triggerListenPoint(input: { listenPoint: "no-such-app-${randomUUID()}" }) { __typename } }`,
  },
  'Mutation.deliverWebhook': {
    minimum: 'anonymous',
    operation: `mutation { deliverWebhook(input: { listenPoint: "no-such-app-${randomUUID()}", method: "GET" }) { __typename } }`,
  },
};
