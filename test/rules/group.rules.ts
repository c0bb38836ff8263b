import { gid } from './core.rules';
import type { Rules } from './rule';

/** Root fields of the group domain and the least role each needs. */
export const rules: Rules = {
  'Query.groups': { minimum: 'viewer', operation: `{ groups(first: 1) { edges { node { id } } } }` },
  'Mutation.createGroup': { minimum: 'admin', operation: `mutation { createGroup(input: { name: "" }) { __typename } }` },
  'Mutation.updateGroup': { minimum: 'admin', operation: `mutation { updateGroup(input: { id: "${gid('Group')}" }) { __typename } }` },
  'Mutation.deleteGroup': { minimum: 'admin', operation: `mutation { deleteGroup(id: "${gid('Group')}") { __typename } }` },
  'Mutation.setGroupHosts': { minimum: 'admin', operation: `mutation { setGroupHosts(input: { groupId: "${gid('Group')}", hostIds: [] }) { __typename } }` },
  'Mutation.addHostsToGroup': { minimum: 'admin', operation: `mutation { addHostsToGroup(input: { groupId: "${gid('Group')}", hostIds: [] }) { __typename } }` },
  'Mutation.removeHostsFromGroup': {
    minimum: 'admin',
    operation: `mutation { removeHostsFromGroup(input: { groupId: "${gid('Group')}", hostIds: [] }) { __typename } }`,
  },
  'Mutation.setGroupScripts': {
    minimum: 'admin',
    operation: `mutation { setGroupScripts(input: { groupId: "${gid('Group')}", scriptIds: [] }) { __typename } }`,
  },
};
