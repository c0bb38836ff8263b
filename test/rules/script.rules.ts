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
};
