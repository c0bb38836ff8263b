/**
 * GraphQL in-process for the REST layer's sockets and long answers: a query/mutation runner and
 * a `subscribe` helper, both against our schema with a prepared context (the same context the
 * REST route or socket was given).
 *
 * The route runner (operation.ts) goes through Yoga's `getEnveloped`, but an `UpgradeRoute`
 * only receives the context, not the Yoga instance. So this runs the schema directly — the same
 * resolvers, auth scopes and typed errors — and maps domain errors to coded GraphQL errors the
 * way Yoga's error masking does. Yoga's abuse limits are not applied: the documents are ours.
 */
import { execute, getOperationAST, GraphQLError, parse, subscribe as graphqlSubscribe, validate, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { DomainError } from '../../core/errors';
import { toGraphQLError } from '../builder';
import type { Context } from '../context';
import { schema } from '../schema';
import type { GraphQLServer } from '../yoga';
import { createGraphQLRunner, type GraphQLRunner } from './operation';
import { RestFailure } from './route-table';

/** Gives a domain error its code, as Yoga's masking does; other errors stay as they are. */
function masked(errors: readonly GraphQLError[] | undefined): GraphQLError[] | undefined {
  return errors?.map((error) => (error.originalError instanceof DomainError ? toGraphQLError(error.originalError) : error));
}

async function maskedExecute(args: ExecutionArgs): Promise<ExecutionResult> {
  const result = await execute(args);
  const errors = masked(result.errors);
  return errors ? { ...result, errors } : result;
}

/** Queries and mutations, with the route runner's error handling (typed errors → RestFailure). */
export const graphqlInProcess: GraphQLRunner = createGraphQLRunner({
  getEnveloped: () => ({ schema, execute: maskedExecute, parse, validate }),
} as unknown as GraphQLServer);

const documents = new Map<string, DocumentNode>();

function documentOf(source: string): DocumentNode {
  let document = documents.get(source);
  if (!document) {
    document = parse(source);
    const problems = validate(schema, document);
    if (problems.length > 0 || !getOperationAST(document)) {
      throw new Error(`A REST subscription document is invalid: ${problems.map((p) => p.message).join('; ') || 'no single operation'}`);
    }
    documents.set(source, document);
  }
  return document;
}

function failureOf(errors: readonly GraphQLError[]): RestFailure {
  const error = errors[0]!;
  const code = error.extensions?.code;
  const kind = code === 'UNAUTHENTICATED' ? 'unauthenticated' : code === 'FORBIDDEN' ? 'forbidden' : code === 'NOT_FOUND' ? 'not_found' : code === 'BAD_USER_INPUT' ? 'validation' : 'internal';
  return new RestFailure(kind, error.message);
}

/**
 * Subscribes in-process: each event's data until the subscription ends. `return()` ends it at
 * once, even while a `next()` waits (a generator would wait for the next event first). A refused
 * subscription or an event with errors throws a RestFailure.
 */
export async function subscribe<T = Record<string, unknown>>(context: Context, source: string, variables: Record<string, unknown> = {}): Promise<AsyncIterableIterator<T>> {
  const result = await graphqlSubscribe({ schema, document: documentOf(source), variableValues: variables, contextValue: context });
  if (!(Symbol.asyncIterator in result)) {
    throw failureOf(masked(result.errors) ?? [new GraphQLError('The subscription gave no events.')]);
  }
  const events = result as AsyncGenerator<ExecutionResult>;
  const done = (): IteratorResult<T> => ({ done: true, value: undefined });
  const iterator: AsyncIterableIterator<T> = {
    async next() {
      const event = await events.next();
      if (event.done) return done();
      const errors = masked(event.value.errors);
      if (errors?.length) {
        await events.return?.(undefined);
        throw failureOf(errors);
      }
      return { done: false, value: event.value.data as T };
    },
    async return() {
      await events.return?.(undefined);
      return done();
    },
    [Symbol.asyncIterator]: () => iterator,
  };
  return iterator;
}
