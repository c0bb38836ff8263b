'use client';

/**
 * The console's GraphQL client: urql with its document cache, HTTP for queries and mutations,
 * and graphql-ws for subscriptions (the session cookie rides on the WebSocket upgrade).
 */
import { createClient as createWsClient } from 'graphql-ws';
import { useState, type ReactNode } from 'react';
import { cacheExchange, Client, CombinedError, fetchExchange, Provider, subscriptionExchange } from 'urql';

export const GRAPHQL_PATH = '/api/graphql';

export function createGraphQLClient(): Client {
  // Pages are pre-rendered on the server without data: queries run in the browser only.
  if (typeof window === 'undefined') return new Client({ url: GRAPHQL_PATH, exchanges: [] });
  const ws = createWsClient({
    url: `${window.location.protocol === 'https:' ? 'wss' : 'ws'}://${window.location.host}${GRAPHQL_PATH}`,
    lazy: true,
    retryAttempts: Infinity,
    shouldRetry: () => true,
  });
  return new Client({
    url: GRAPHQL_PATH,
    // Every operation as a JSON POST: the server's cross-site defence expects it, and a query
    // in a URL could be kept by a browser or proxy cache.
    preferGetMethod: false,
    fetchOptions: { credentials: 'same-origin', headers: { 'Content-Type': 'application/json' } },
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query ?? '' };
          return { subscribe: (sink) => ({ unsubscribe: ws.subscribe(input, sink) }) };
        },
      }),
    ],
  });
}

/** The message to show a person for a failed request. */
export function errorMessage(error: CombinedError): string {
  return error.graphQLErrors[0]?.message ?? (error.networkError ? 'Runboard cannot be reached. Check your connection and try again.' : error.message);
}

/** Gives the pages one GraphQL client per page load (a data-less one while pre-rendering). */
export function GraphQLProvider({ children }: { children: ReactNode }) {
  const [client] = useState(createGraphQLClient);
  return <Provider value={client}>{children}</Provider>;
}
