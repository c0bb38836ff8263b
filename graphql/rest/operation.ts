/**
 * Runs one GraphQL operation in-process for a REST route: the same schema, plugins (limits,
 * error masking) and context as /api/graphql, without HTTP. Documents are parsed and validated
 * once. Errors come back as RestFailures: top-level errors by their `extensions.code`, and the
 * typed errors of mutation results (`__typename` ending in "Error", see ERROR_FIELDS) likewise.
 */
import { getOperationAST, validate, type DocumentNode, type ExecutionResult, type GraphQLError } from 'graphql';
import type { Context } from '../context';
import type { GraphQLServer } from '../yoga';
import { RestFailure, type FailureKind } from './route-table';

const CODE_KINDS: Record<string, FailureKind> = {
  UNAUTHENTICATED: 'unauthenticated',
  FORBIDDEN: 'forbidden',
  NOT_FOUND: 'not_found',
  BAD_USER_INPUT: 'validation',
  GRAPHQL_VALIDATION_FAILED: 'validation',
  CONFLICT: 'conflict',
  RATE_LIMITED: 'rate_limited',
};

const TYPENAME_KINDS: Record<string, FailureKind> = {
  ValidationError: 'validation',
  NotFoundError: 'not_found',
  ConflictError: 'conflict',
  ForbiddenError: 'forbidden',
  UnauthenticatedError: 'unauthenticated',
  RateLimitedError: 'rate_limited',
};

export type GraphQLRunner = <T = Record<string, unknown>>(context: Context, document: string, variables?: Record<string, unknown>) => Promise<T>;

/** Turns a top-level GraphQL error into a failure. */
export function failureOf(error: GraphQLError): RestFailure {
  const code = typeof error.extensions?.code === 'string' ? error.extensions.code : undefined;
  // Variable coercion errors (a wrong type in the request) carry no code: they are the client's.
  const kind = code ? (CODE_KINDS[code] ?? 'internal') : error.locations || /Variable "\$/.test(error.message) ? 'validation' : 'internal';
  return new RestFailure(kind, error.message);
}

/** Throws the first typed error found at the top of the data (a mutation's error result). */
function raiseTypedErrors(data: Record<string, unknown>): void {
  for (const value of Object.values(data)) {
    if (!value || typeof value !== 'object' || Array.isArray(value)) continue;
    const { __typename: typename, message, fields } = value as { __typename?: unknown; message?: unknown; fields?: unknown };
    if (typeof typename !== 'string' || !typename.endsWith('Error') || typeof message !== 'string') continue;
    throw new RestFailure(TYPENAME_KINDS[typename] ?? 'validation', message, {
      fields: Array.isArray(fields) ? (fields as Array<{ path: string[]; message: string }>) : [],
    });
  }
}

/** Unwraps `{ __typename: 'XSuccess', data }` results so routes read `data.createCheck.data` as the object. */
export function createGraphQLRunner(yoga: GraphQLServer): GraphQLRunner {
  const documents = new Map<string, DocumentNode>();
  // The envelope's functions take the context with each call (contextValue): built once, not per request.
  let enveloped: ReturnType<GraphQLServer['getEnveloped']> | undefined;
  return async <T,>(context: Context, source: string, variables: Record<string, unknown> = {}) => {
    const { schema, execute, parse } = (enveloped ??= yoga.getEnveloped({}));
    let document = documents.get(source);
    if (!document) {
      const parsed = parse(source);
      // GraphQL's own rules only: the abuse limits (cost, depth, aliases) are for documents
      // clients send; a route's document is our code, and the values it is given are bounded by
      // the schema's own limits (page sizes, string lengths).
      const problems = validate(schema, parsed);
      if (problems.length > 0 || !getOperationAST(parsed)) {
        // A route's document is our code: failing here is a bug, reported as one.
        throw new Error(`A REST route's GraphQL document is invalid: ${problems.map((p: { message: string }) => p.message).join('; ') || 'no single operation'}`);
      }
      documents.set(source, parsed);
      document = parsed;
    }
    const result = (await execute({ schema, document, variableValues: variables, contextValue: context })) as ExecutionResult;
    if (result.errors?.length) {
      const denied = result.errors.find((e) => e.extensions?.code === 'UNAUTHENTICATED' || e.extensions?.code === 'FORBIDDEN');
      throw failureOf(denied ?? result.errors[0]!);
    }
    const data = (result.data ?? {}) as Record<string, unknown>;
    raiseTypedErrors(data);
    return data as T;
  };
}
