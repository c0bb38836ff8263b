import { gid } from './core.rules';
import type { Rules } from './rule';

/** Root fields of the check domain and the least role each needs. */
export const rules: Rules = {
  'Query.checks': { minimum: 'viewer', operation: `{ checks(first: 1) { edges { node { id } } } }` },
  'Query.check': { minimum: 'viewer', operation: `{ check(number: -1) { id } }` },
  'Mutation.createCheck': { minimum: 'admin', operation: `mutation { createCheck(input: { name: "" }) { __typename } }` },
  'Mutation.updateCheck': { minimum: 'admin', operation: `mutation { updateCheck(input: { id: "${gid('Check')}" }) { __typename } }` },
  'Mutation.deleteCheck': { minimum: 'admin', operation: `mutation { deleteCheck(id: "${gid('Check')}") { __typename } }` },
  'Mutation.pauseCheck': { minimum: 'operator', operation: `mutation { pauseCheck(id: "${gid('Check')}") { __typename } }` },
  'Mutation.resumeCheck': { minimum: 'operator', operation: `mutation { resumeCheck(id: "${gid('Check')}") { __typename } }` },
  'Mutation.rotatePingKey': { minimum: 'admin', operation: `mutation { rotatePingKey(id: "${gid('Check')}") { __typename } }` },
  'Mutation.checkIn': { minimum: 'operator', operation: `mutation { checkIn(input: { number: -1 }) { __typename } }` },
  'Mutation.recordPing': {
    minimum: 'operator',
    operation: `mutation { recordPing(input: { checkId: "${gid('Check')}", kind: LOG }) { __typename } }`,
  },
  'Subscription.checkUpdated': { minimum: 'viewer', operation: `subscription { checkUpdated { kind } }` },
};
