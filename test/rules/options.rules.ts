import type { Rules } from './rule';

/** Root fields of the options domain and the least role each needs. */
export const rules: Rules = {
  'Query.options': { minimum: 'viewer', operation: `{ options { serverUrl registration { pskSet } } }` },
  // An invalid URL: refused with a typed error, so nothing changes.
  'Mutation.updateOptions': { minimum: 'admin', operation: `mutation { updateOptions(input: { serverUrl: "not a url" }) { __typename } }` },
};
