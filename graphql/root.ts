/** The root operation types and shared scalars. Every root field needs a signed-in caller unless it says otherwise. */
import { GraphQLError, Kind } from 'graphql';
import { builder } from './builder';

builder.queryType({ authScopes: { signedIn: true } });
builder.mutationType({ authScopes: { signedIn: true } });
builder.subscriptionType({ authScopes: { signedIn: true } });

function parseDateTime(value: unknown): Date {
  const date = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(value) ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime())) {
    throw new GraphQLError(`${JSON.stringify(value)?.slice(0, 60)} is not a date-time: write ISO 8601, e.g. 2026-01-31T12:00:00Z.`);
  }
  return date;
}

builder.scalarType('DateTime', {
  description: 'A moment in time, as an ISO 8601 string with a time zone (e.g. 2026-01-31T12:00:00.000Z).',
  // Values that crossed the pubsub as JSON arrive as strings.
  serialize: (value) => (value instanceof Date ? value : new Date(value)).toISOString(),
  parseValue: parseDateTime,
  parseLiteral: (ast) => parseDateTime(ast.kind === Kind.STRING ? ast.value : undefined),
});

builder.scalarType('JSON', {
  description: 'Any JSON value (used for free-form data such as a reporting tool\'s own fields).',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: () => {
    throw new GraphQLError('Pass JSON values as variables, not inline in the query.');
  },
});
