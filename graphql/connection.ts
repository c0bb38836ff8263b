/** Turns a repository page into a Relay connection. */
import type { Page, PageArgs } from '../db/pagination';

export function toConnection<T>(page: Page<T>) {
  return {
    edges: page.nodes.map((node, i) => ({ node, cursor: page.cursors[i]! })),
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: page.hasPreviousPage,
      startCursor: page.cursors[0] ?? null,
      endCursor: page.cursors.at(-1) ?? null,
    },
    totalCount: page.totalCount,
  };
}

/** The Relay arguments Pothos hands a connection resolver, as the repositories take them. */
export function pageArgs(args: { first?: number | null; after?: string | null; last?: number | null; before?: string | null }): PageArgs {
  return { first: args.first, after: args.after, last: args.last, before: args.before };
}

/** Descriptions for the connection and edge types of a list of `things` (spread into `t.connection`). */
export const pageOf = (things: string) =>
  [{ description: `A page of ${things}.` }, { description: `One of a page of ${things}, with its cursor.` }] as const;
