import { randomUUID } from 'node:crypto';
import type { Rules } from './rule';

/** A global id of `type` that names nothing. */
export const gid = (type: string) => Buffer.from(`${type}:${randomUUID()}`).toString('base64');

/** Sign-in, people, keys, the audit log and global lookups. */
export const rules: Rules = {
  'Query.viewer': { minimum: 'anonymous', operation: `{ viewer { role } }` },
  'Query.apiKeys': { minimum: 'viewer', operation: `{ apiKeys { edges { node { id } } } }` },
  'Query.users': { minimum: 'admin', operation: `{ users { edges { node { id } } } }` },
  'Query.user': { minimum: 'admin', operation: `{ user(id: "${randomUUID()}") { id } }` },
  'Mutation.signIn': { minimum: 'anonymous', operation: `mutation { signIn(input: { username: "x", password: "y" }) { __typename } }` },
  'Mutation.signOut': { minimum: 'anonymous', operation: `mutation { signOut }` },
  'Mutation.changePassword': {
    minimum: 'viewer',
    operation: `mutation { changePassword(input: { currentPassword: "wrong-wrong-wrong", newPassword: "new-password-123" }) { __typename } }`,
  },
  'Mutation.createApiKey': { minimum: 'viewer', operation: `mutation { createApiKey(input: { name: "k-${randomUUID()}" }) { __typename } }` },
  'Query.accessKeys': { minimum: 'viewer', operation: `{ accessKeys { edges { node { id } } } }` },
  'Mutation.createAccessKey': { minimum: 'viewer', operation: `mutation { createAccessKey(input: { name: "a-${randomUUID()}" }) { __typename } }` },
  'Mutation.revokeAccessKey': { minimum: 'viewer', operation: `mutation { revokeAccessKey(id: "${randomUUID()}") { __typename } }` },
  'Mutation.revokeApiKey': { minimum: 'viewer', operation: `mutation { revokeApiKey(id: "${randomUUID()}") { __typename } }` },
  'Mutation.createUser': { minimum: 'admin', operation: `mutation { createUser(input: { username: "u", password: "short", role: VIEWER }) { __typename } }` },
  'Mutation.updateUser': { minimum: 'admin', operation: `mutation { updateUser(input: { id: "${randomUUID()}" }) { __typename } }` },
  'Mutation.deleteUser': { minimum: 'admin', operation: `mutation { deleteUser(id: "${randomUUID()}") { __typename } }` },
  'Query.node': { minimum: 'viewer', operation: `{ node(id: "${gid('Host')}") { id } }` },
  'Query.nodes': { minimum: 'viewer', operation: `{ nodes(ids: ["${gid('Script')}"]) { id } }` },
  'Query.events': { minimum: 'viewer', operation: `{ events(first: 1) { edges { node { id } } } }` },
  'Subscription.eventAdded': { minimum: 'viewer', operation: `subscription { eventAdded { id } }` },
  'Subscription.userChanged': { minimum: 'admin', operation: `subscription { userChanged { kind } }` },
};
