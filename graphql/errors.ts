/**
 * Expected failures as typed results. A mutation lists the errors it can return; clients select
 * `... on Error { message }` and, for validation, the per-field problems.
 */
import {
  ConflictError,
  NotFoundError,
  RateLimitedError,
  UnauthenticatedError,
  ValidationError,
  type FieldProblem,
} from '../core/errors';
import { builder } from './builder';

export const ErrorInterface = builder.interfaceRef<Error>('Error').implement({
  description: 'Something expected went wrong; `message` says what, in words a person can act on.',
  fields: (t) => ({ message: t.exposeString('message', { description: 'What went wrong and what to do about it, for people.' }) }),
});

const FieldProblemRef = builder.objectRef<FieldProblem>('FieldProblem').implement({
  description: 'What is wrong with one input field.',
  fields: (t) => ({
    path: t.exposeStringList('path', { description: 'Path of the field, e.g. ["input", "username"].' }),
    message: t.exposeString('message', { description: 'What is wrong with it.' }),
  }),
});

builder.objectType(ValidationError, {
  name: 'ValidationError',
  description: 'The input is malformed or breaks a rule.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ValidationError,
  fields: (t) => ({
    fields: t.field({ type: [FieldProblemRef], description: 'Each problem, by input field (to show beside the field in a form).', resolve: (error) => error.fields }),
  }),
});

builder.objectType(NotFoundError, {
  name: 'NotFoundError',
  description: 'The object does not exist.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof NotFoundError,
});

builder.objectType(ConflictError, {
  name: 'ConflictError',
  description: 'The change clashes with existing data (a taken name, an object still in use).',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ConflictError,
});

builder.objectType(RateLimitedError, {
  name: 'RateLimitedError',
  description: 'Too many attempts; try again later.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof RateLimitedError,
  fields: (t) => ({ retryAfterSeconds: t.exposeInt('retryAfterSeconds', { description: 'How long to wait before trying again.' }) }),
});

builder.objectType(UnauthenticatedError, {
  name: 'SignInError',
  description: 'The username or password is wrong, or the account is disabled.',
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof UnauthenticatedError,
});

/**
 * The `errors` option of a mutation: the typed errors it returns, with descriptions for the
 * result types the errors plugin generates. `what` names the result, e.g. "the new host".
 */
export function outcome<T>(what: string, types: T[]) {
  const sentence = `${what[0]!.toUpperCase()}${what.slice(1)}`;
  return {
    types,
    result: { description: `Success: ${what}.` },
    union: { description: `${sentence}, or why it could not be done.` },
    dataField: { description: `${sentence}.` },
  };
}
