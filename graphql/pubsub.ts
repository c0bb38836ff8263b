/**
 * Publish/subscribe for subscriptions. In-memory for now (one instance); a PostgreSQL
 * LISTEN/NOTIFY backing with the same interface comes with multi-instance execution.
 */
import { createPubSub } from 'graphql-yoga';
import type { User } from '../db/user.repository';

export type UserChangeKind = 'CREATED' | 'UPDATED' | 'DELETED';

export interface Topics {
  [key: string]: [unknown];
  userChanged: [{ kind: UserChangeKind; user: User }];
}

export type PubSub = ReturnType<typeof createPubSub<Topics>>;

export function createMemoryPubSub(): PubSub {
  return createPubSub<Topics>();
}
