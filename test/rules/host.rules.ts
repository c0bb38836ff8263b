import { gid } from './core.rules';
import type { Rules } from './rule';

/** Root fields of the host domain and the least role each needs. */
export const rules: Rules = {
  'Query.hosts': { minimum: 'viewer', operation: `{ hosts(first: 1) { edges { node { id } } } }` },
  'Mutation.createHost': { minimum: 'admin', operation: `mutation { createHost(input: { name: "" }) { __typename } }` },
  'Mutation.updateHost': { minimum: 'admin', operation: `mutation { updateHost(input: { id: "${gid('Host')}" }) { __typename } }` },
  'Mutation.deleteHost': { minimum: 'admin', operation: `mutation { deleteHost(id: "${gid('Host')}") { __typename } }` },
  'Mutation.rotateHostKey': { minimum: 'admin', operation: `mutation { rotateHostKey(id: "${gid('Host')}") { __typename } }` },
  'Mutation.revokeHostKey': { minimum: 'admin', operation: `mutation { revokeHostKey(id: "${gid('Host')}") { __typename } }` },
  // Needs no session (the registration key is the credential); with registration off it answers NotFoundError.
  'Mutation.registerHost': { minimum: 'anonymous', operation: `mutation { registerHost(input: { psk: "x", hostname: "h", uname: "u" }) { __typename } }` },
  'Subscription.hostUpdated': { minimum: 'viewer', operation: `subscription { hostUpdated { kind } }` },
};
