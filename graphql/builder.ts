/**
 * The Pothos schema builder and its plugins. No types are defined here: each domain type lives
 * in its own file with its queries, mutations and subscriptions, and `schema.ts` gathers them.
 */
import SchemaBuilder from '@pothos/core';
import DataloaderPlugin from '@pothos/plugin-dataloader';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import './fresh-loaders';
import ScopeAuthPlugin, { type AuthFailure } from '@pothos/plugin-scope-auth';
import { GraphQLError } from 'graphql';
import { ForbiddenError, UnauthenticatedError, type DomainError } from '../core/errors';
import { roleAllows, type Role } from '../core/roles';
import type { AgentCaller, Context, SignedInContext } from './context';

/** Whether a failed scope check asked for an agent. */
function neededAgent(failure: AuthFailure): boolean {
  if (failure.kind === 'AuthScope') return failure.scope === 'agent';
  if (failure.kind === 'AnyAuthScopes' || failure.kind === 'AllAuthScopes') return failure.failures.some(neededAgent);
  return false;
}

/** The role a failed scope check asked for, searched through nested any/all failures. */
function requiredRole(failure: AuthFailure): string | undefined {
  if (failure.kind === 'AuthScope' && failure.scope === 'role') return String(failure.parameter);
  if (failure.kind === 'AnyAuthScopes' || failure.kind === 'AllAuthScopes') {
    for (const inner of failure.failures) {
      const role = requiredRole(inner);
      if (role) return role;
    }
  }
  return undefined;
}

const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** A top-level GraphQL error for a domain error, with its code and HTTP status. */
export function toGraphQLError(error: DomainError): GraphQLError {
  return new GraphQLError(error.message, {
    originalError: error,
    extensions: {
      code: error.code,
      http: {
        status: error.httpStatus,
        ...(error instanceof UnauthenticatedError && {
          headers: { 'WWW-Authenticate': 'Bearer realm="runboard", Basic realm="runboard", charset="UTF-8"' },
        }),
      },
    },
  });
}

export const builder = new SchemaBuilder<{
  Context: Context;
  /** `agent`: the caller is a host's agent (its host key); only the agent operations ask for it. */
  AuthScopes: { signedIn: boolean; role: Role; agent: boolean; checkin: boolean };
  AuthContexts: { signedIn: SignedInContext; role: SignedInContext; agent: Context & { agent: AgentCaller }; checkin: Context };
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    JSON: { Input: unknown; Output: unknown };
  };
  /** Every connection can count its whole list (only when the field is selected). */
  Connection: { totalCount: () => Promise<number> };
  DefaultFieldNullability: false;
  DefaultEdgesNullability: false;
  DefaultNodeNullability: false;
}>({
  plugins: [ScopeAuthPlugin, ErrorsPlugin, RelayPlugin, DataloaderPlugin, 'freshLoaders'],
  defaultFieldNullability: false,
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    idFieldOptions: { description: 'The global id: pass it to `node(id:)` or to any argument that takes this object.' },
    edgesFieldOptions: { nullable: false, description: 'The items of this page, each with its cursor.' },
    nodeFieldOptions: { nullable: false, description: 'The item.' },
    cursorFieldOptions: { description: 'Where this item sits: pass it as `after` (or `before`) to page from here.' },
    pageInfoFieldOptions: { description: 'Where this page sits in the list.' },
    hasNextPageFieldOptions: { description: 'Whether there are items after this page.' },
    hasPreviousPageFieldOptions: { description: 'Whether there are items before this page.' },
    startCursorFieldOptions: { description: 'The cursor of the first item of this page.' },
    endCursorFieldOptions: { description: 'The cursor of the last item of this page: pass it as `after` for the next page.' },
    firstArgOptions: { description: 'How many items to return from the start (default 50, at most 500).' },
    afterArgOptions: { description: 'Return items after this cursor.' },
    lastArgOptions: { description: 'How many items to return from the end (at most 500).' },
    beforeArgOptions: { description: 'Return items before this cursor.' },
    defaultConnectionTypeOptions: { description: 'One page of a list, with cursors to move through it.' },
    defaultEdgeTypeOptions: { description: 'One item of a list page, with its cursor.' },
    // node/nodes need a signed-in caller like every other root field.
    nodeQueryOptions: {
      authScopes: { signedIn: true },
      description: 'Any object by its global id; null when there is none.',
      args: { id: { description: 'A global id.' } },
    },
    nodesQueryOptions: {
      authScopes: { signedIn: true },
      description: 'Several objects by global id, in the order asked; null for each that does not exist.',
      args: { ids: { description: 'Global ids.' } },
    },
    nodeTypeOptions: { description: 'An object with a global id, fetchable with `node(id:)`.' },
    pageInfoTypeOptions: { description: 'Where a page sits in its list, and the cursors to move from it.' },
  },
  scopeAuth: {
    // Subscriptions are authorized when they start, not on every event.
    authorizeOnSubscribe: true,
    authScopes: (context) => ({
      signedIn: context.viewer !== null,
      role: (required: Role) => context.viewer !== null && roleAllows(context.viewer.role, required),
      agent: context.agent !== undefined,
      // A check-in write: operators, or an anonymous caller the REST layer admitted from a listed network.
      checkin: context.anonymousCheckin === true || (context.viewer !== null && roleAllows(context.viewer.role, 'operator')),
    }),
    unauthorizedError: (_parent, context, info, result) => {
      const field = `${info.parentType.name}.${info.fieldName}`;
      if (context.agent) return toGraphQLError(new ForbiddenError(`A host key may only be used for the agent operations, not ${field}.`));
      if (!context.viewer) return toGraphQLError(new UnauthenticatedError());
      if (neededAgent(result.failure)) {
        return toGraphQLError(new ForbiddenError(`${field} is for agents: only a host's agent, connected with its host key, may use it.`));
      }
      const role = requiredRole(result.failure);
      const needed = role ? ` It needs the ${role} role.` : '';
      return toGraphQLError(
        new ForbiddenError(`Your role (${context.viewer.role}) does not allow ${info.parentType.name}.${info.fieldName}.${needed}`),
      );
    },
  },
  errors: {
    defaultResultOptions: {
      name: ({ fieldName }) => `${capitalize(fieldName)}Success`,
      description: 'The operation succeeded; `data` holds its result.',
    },
    defaultUnionOptions: {
      name: ({ fieldName }) => `${capitalize(fieldName)}Result`,
      description: 'The success, or one of the errors this operation can return (select `... on Error { message }`).',
    },
  },
});

builder.globalConnectionField('totalCount', (t) =>
  t.int({
    description: 'How many items the whole list holds, with the same filters (counted only when asked for).',
    resolve: (connection) => connection.totalCount(),
  }),
);
