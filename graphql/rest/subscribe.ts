/**
 * Subscriptions in-process for the REST layer's sockets and long answers, through Yoga's
 * `getEnveloped` as graphql/ws.ts does: the same schema, plugins (abuse limits, error masking)
 * and context as /api/graphql. The plumbing (server.ts) hands it to routes and upgrade routes as
 * `tools.subscribe`.
 */
import { getOperationAST, GraphQLError, type DocumentNode, type ExecutionResult } from 'graphql';
import type { Context } from '../context';
import type { GraphQLServer } from '../yoga';
import { failureOf } from './operation';
import { RestFailure } from './route-table';

export type SubscriptionRunner = <T = Record<string, unknown>>(context: Context, document: string, variables?: Record<string, unknown>) => Promise<AsyncIterableIterator<T>>;

/** The first error of a refused subscription or of an event, as a failure. */
const failure = (errors: readonly GraphQLError[] | undefined): RestFailure =>
  failureOf(errors?.[0] ?? new GraphQLError('The subscription gave no events.'));

/**
 * Subscribes: each event's data until the subscription ends. `return()` ends it at once, even
 * while a `next()` waits (a generator would wait for the next event first). A refused
 * subscription or an event with errors throws a RestFailure.
 */
export function createSubscriptionRunner(yoga: GraphQLServer): SubscriptionRunner {
  const documents = new Map<string, DocumentNode>();
  return async <T,>(context: Context, source: string, variables: Record<string, unknown> = {}) => {
    const { schema, subscribe, parse, validate } = yoga.getEnveloped({ prepared: context });
    let document = documents.get(source);
    if (!document) {
      const parsed = parse(source);
      const problems = validate(schema, parsed);
      if (problems.length > 0 || getOperationAST(parsed)?.operation !== 'subscription') {
        // A route's document is our code: failing here is a bug, reported as one.
        throw new Error(`A REST subscription document is invalid: ${problems.map((p: { message: string }) => p.message).join('; ') || 'not a single subscription'}`);
      }
      documents.set(source, parsed);
      document = parsed;
    }
    const result = (await subscribe({ schema, document, variableValues: variables, contextValue: context })) as AsyncGenerator<ExecutionResult> | ExecutionResult;
    if (!(Symbol.asyncIterator in result)) throw failure(result.errors);
    const events = result;
    const done = (): IteratorResult<T> => ({ done: true, value: undefined });
    const iterator: AsyncIterableIterator<T> = {
      async next() {
        const event = await events.next();
        if (event.done) return done();
        if (event.value.errors?.length) {
          await events.return?.(undefined);
          throw failure(event.value.errors);
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
  };
}
