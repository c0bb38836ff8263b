/**
 * The Pothos schema builder and its plugins. No types are defined here: each domain type lives
 * in its own file with its queries, mutations and subscriptions, and `schema.ts` gathers them.
 */
import SchemaBuilder from '@pothos/core';
import ErrorsPlugin from '@pothos/plugin-errors';
import ScopeAuthPlugin, { type AuthFailure } from '@pothos/plugin-scope-auth';
import { GraphQLError } from 'graphql';
import { ForbiddenError, UnauthenticatedError, type DomainError } from '../core/errors';
import { roleAllows, type Role } from '../core/roles';
import type { Context, SignedInContext } from './context';

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
  AuthScopes: { signedIn: boolean; role: Role };
  AuthContexts: { signedIn: SignedInContext; role: SignedInContext };
  Scalars: { DateTime: { Input: Date; Output: Date } };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin, ErrorsPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    // Subscriptions are authorized when they start, not on every event.
    authorizeOnSubscribe: true,
    authScopes: (context) => ({
      signedIn: context.viewer !== null,
      role: (required: Role) => context.viewer !== null && roleAllows(context.viewer.role, required),
    }),
    unauthorizedError: (_parent, context, info, result) => {
      if (!context.viewer) return toGraphQLError(new UnauthenticatedError());
      const role = requiredRole(result.failure);
      const needed = role ? ` It needs the ${role} role.` : '';
      return toGraphQLError(
        new ForbiddenError(`Your role (${context.viewer.role}) does not allow ${info.parentType.name}.${info.fieldName}.${needed}`),
      );
    },
  },
  errors: {
    defaultResultOptions: { name: ({ fieldName }) => `${capitalize(fieldName)}Success` },
    defaultUnionOptions: { name: ({ fieldName }) => `${capitalize(fieldName)}Result` },
  },
});
