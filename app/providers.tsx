'use client';

import { useState, type ReactNode } from 'react';
import { Provider } from 'urql';
import { createGraphQLClient } from './lib/graphql-client';

/** One GraphQL client per page load (a data-less one while pre-rendering on the server). */
export function Providers({ children }: { children: ReactNode }) {
  const [client] = useState(createGraphQLClient);
  return <Provider value={client}>{children}</Provider>;
}
