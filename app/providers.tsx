'use client';

import { useEffect, useState, type ReactNode } from 'react';
import { Provider, type Client } from 'urql';
import { createGraphQLClient } from './lib/graphql-client';

/** Creates the GraphQL client in the browser only: pages render once it exists. */
export function Providers({ children }: { children: ReactNode }) {
  const [client, setClient] = useState<Client | null>(null);
  useEffect(() => setClient(createGraphQLClient()), []);
  if (!client) return <div aria-busy="true" />;
  return <Provider value={client}>{children}</Provider>;
}
