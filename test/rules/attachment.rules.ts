import type { Rules } from './rule';
import { gid } from './core.rules';

/** Root fields of the attachment domain and the least role each needs. */
export const rules: Rules = {
  'Query.attachments': { minimum: 'viewer', operation: `{ attachments(first: 1, search: "x") { edges { node { id } } } }` },
  // A relative path is refused by validation: harmless, and not a refusal of the role.
  'Mutation.createAttachment': {
    minimum: 'admin',
    operation: `mutation { createAttachment(input: { name: "f", path: "relative", contentBase64: "" }) { __typename } }`,
  },
  'Mutation.updateAttachment': { minimum: 'admin', operation: `mutation { updateAttachment(input: { id: "${gid('Attachment')}" }) { __typename } }` },
  'Mutation.deleteAttachment': { minimum: 'admin', operation: `mutation { deleteAttachment(id: "${gid('Attachment')}") { __typename } }` },
};
