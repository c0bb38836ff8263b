/**
 * Keyset (cursor) pagination for every list: a page is read with `WHERE (sort, id) < (cursor)`
 * on an index, never with OFFSET, so page 1,000 costs what page 1 costs. A cursor is the sort
 * value (as PostgreSQL prints it, so microseconds survive) and the row id, base64url-encoded.
 */
import { sql, type RawBuilder, type SelectQueryBuilder } from 'kysely';
import { ValidationError } from '../core/errors';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;
/** The most rows `skip` may pass over (deeper pages should use cursors). */
export const MAX_SKIP = 100_000;

/** Relay's connection arguments. */
export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
  /**
   * Rows to pass over before the page (OFFSET), for clients that page by number (Scripto's
   * `page`); cursors stay the way to page through a long list.
   */
  skip?: number | null;
}

export interface Page<T> {
  nodes: T[];
  /** One cursor per node. */
  cursors: string[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  /** The size of the whole filtered list; runs a count only when called. */
  totalCount: () => Promise<number>;
}

export interface SortOrder {
  /** A trusted SQL expression to sort by, e.g. `runs.created_at` or `lower(hosts.name)`. */
  expression: string;
  /** Its PostgreSQL type, to read a cursor value back. */
  type: 'timestamptz' | 'text' | 'integer' | 'bigint';
  direction: 'asc' | 'desc';
  /** The unique tie-breaker, e.g. `runs.id`. */
  id: string;
}

function encodeCursor(value: string, id: string): string {
  return Buffer.from(JSON.stringify([value, id])).toString('base64url');
}

function decodeCursor(cursor: string, field: string): [string, string] {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2 && parsed.every((part) => typeof part === 'string')) {
      return parsed as [string, string];
    }
  } catch {
    // fall through to the error below
  }
  throw new ValidationError(`${field}: this cursor is not one Runboard gave out. Use a cursor from a page of this list.`, [
    { path: [field], message: 'Not a cursor of this list.' },
  ]);
}

function pageSize(value: number | null | undefined, field: string): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (!Number.isInteger(value) || value < 0 || value > MAX_PAGE_SIZE) {
    throw new ValidationError(`${field} must be between 0 and ${MAX_PAGE_SIZE}.`, [
      { path: [field], message: `Between 0 and ${MAX_PAGE_SIZE}.` },
    ]);
  }
  return value;
}

/**
 * Reads one page of `query` (already filtered, not yet ordered or limited) in `order`. `first`
 * / `after` page forward, `last` / `before` backward; with neither size, the first
 * DEFAULT_PAGE_SIZE rows.
 */
export async function paginate<DB, TB extends keyof DB, Row extends { id: string }>(
  query: SelectQueryBuilder<DB, TB, Row>,
  args: PageArgs,
  order: SortOrder,
): Promise<Page<Row & { __sort: string }>> {
  const first = pageSize(args.first, 'first');
  const last = pageSize(args.last, 'last');
  if (first !== undefined && last !== undefined) {
    throw new ValidationError('Give either first or last, not both.', [{ path: ['last'], message: 'Give either first or last.' }]);
  }
  if (args.skip != null && (!Number.isInteger(args.skip) || args.skip < 0 || args.skip > MAX_SKIP)) {
    throw new ValidationError(`skip must be between 0 and ${MAX_SKIP}.`, [{ path: ['skip'], message: `Between 0 and ${MAX_SKIP}.` }]);
  }
  const backward = last !== undefined || (first === undefined && !!args.before && !args.after);
  const limit = (backward ? last : first) ?? DEFAULT_PAGE_SIZE;

  const sortExpr = sql.raw(order.expression);
  const idExpr = sql.raw(order.id);
  const type = sql.raw(order.type);
  // Reading backward flips the order; the rows are put back in list order below.
  const descending = (order.direction === 'desc') !== backward;
  const direction = sql.raw(descending ? 'desc' : 'asc');

  const keyset = (cursor: string, field: string, comparison: '<' | '>'): RawBuilder<boolean> => {
    const [value, id] = decodeCursor(cursor, field);
    return sql<boolean>`(${sortExpr}, ${idExpr}) ${sql.raw(comparison)} (${value}::${type}, ${id}::uuid)`;
  };
  // In list order, rows "after" a cursor compare < for a descending list and > for an ascending one.
  const afterOp = order.direction === 'desc' ? '<' : '>';
  const beforeOp = order.direction === 'desc' ? '>' : '<';

  let page = query as unknown as SelectQueryBuilder<any, any, any>;
  if (args.after) page = page.where(keyset(args.after, 'after', afterOp));
  if (args.before) page = page.where(keyset(args.before, 'before', beforeOp));
  const rows = (await page
    .select(sql<string>`(${sortExpr})::text`.as('__sort'))
    .orderBy(sql`${sortExpr} ${direction}`)
    .orderBy(sql`${idExpr} ${direction}`)
    .limit(limit + 1)
    .offset(args.skip ?? 0)
    .execute()) as (Row & { __sort: string })[];

  const more = rows.length > limit;
  const nodes = rows.slice(0, limit);
  if (backward) nodes.reverse();
  return {
    nodes,
    cursors: nodes.map((row) => encodeCursor(row.__sort, row.id)),
    hasNextPage: backward ? !!args.before : more,
    hasPreviousPage: backward ? more : !!args.after,
    totalCount: async () => {
      const counted = await (query as unknown as SelectQueryBuilder<any, any, any>)
        .clearSelect()
        .clearOrderBy()
        .select(sql<string>`count(*)`.as('n'))
        .executeTakeFirstOrThrow();
      return Number(counted.n);
    },
  };
}

/** A page of domain objects: `paginate`'s rows mapped through `map`, cursors kept. */
export async function paginateAs<DB, TB extends keyof DB, Row extends { id: string }, T>(
  query: SelectQueryBuilder<DB, TB, Row>,
  args: PageArgs,
  order: SortOrder,
  map: (row: Row) => T,
): Promise<Page<T>> {
  const page = await paginate(query, args, order);
  return { ...page, nodes: page.nodes.map(map) };
}
