import { gid } from './core.rules';
import type { Rules } from './rule';

/** Root fields of the run domain and the least role each needs. */
export const rules: Rules = {
  'Query.runs': { minimum: 'viewer', operation: `{ runs(first: 1) { edges { node { id } } } }` },
  'Query.run': { minimum: 'viewer', operation: `{ run(id: "${gid('Run')}") { id } }` },
  'Mutation.startRun': { minimum: 'operator', operation: `mutation { startRun(input: { scriptId: "${gid('Script')}" }) { __typename } }` },
  'Mutation.cancelRun': { minimum: 'operator', operation: `mutation { cancelRun(id: "${gid('Run')}") { __typename } }` },
  // No script named: a validation error, so nothing is recorded.
  'Mutation.reportRun': { minimum: 'operator', operation: `mutation { reportRun(input: { state: SUCCEEDED }) { __typename } }` },
  'Mutation.updateReportedRun': { minimum: 'operator', operation: `mutation { updateReportedRun(input: { id: "${gid('Run')}" }) { __typename } }` },
  // No fields: a validation error, so nothing is recorded.
  'Mutation.reportTask': { minimum: 'operator', operation: `mutation { reportTask(input: {}) { __typename } }` },
  'Mutation.updateTask': { minimum: 'operator', operation: `mutation { updateTask(input: { id: "${gid('Run')}" }) { __typename } }` },
  'Mutation.deleteRun': { minimum: 'admin', operation: `mutation { deleteRun(id: "${gid('Run')}") { __typename } }` },
  'Subscription.runUpdated': { minimum: 'viewer', operation: `subscription { runUpdated { id } }` },
  'Subscription.runOutput': { minimum: 'viewer', operation: `subscription { runOutput(runId: "${gid('Run')}") { seq } }` },
};
