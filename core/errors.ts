/**
 * Expected failures of the domain. Each carries a message a person can act on; the GraphQL
 * layer exposes them as typed errors, the REST dialects map them to their own status codes.
 * Anything else that is thrown is a bug: it is logged and masked.
 */

export abstract class DomainError extends Error {
  /** Stable machine-readable code, also used as `extensions.code` for top-level errors. */
  abstract readonly code: string;
  /** HTTP status a transport should use when it has to pick one. */
  abstract readonly httpStatus: number;
}

/** One problem with one input field. */
export interface FieldProblem {
  /** Path of the field in the input, e.g. `["input", "username"]`. */
  path: string[];
  message: string;
}

/** The input is malformed or breaks a rule. */
export class ValidationError extends DomainError {
  readonly code = 'BAD_USER_INPUT';
  readonly httpStatus = 400;
  constructor(
    message: string,
    readonly fields: FieldProblem[] = [],
  ) {
    super(message);
    this.name = 'ValidationError';
  }
}

/** The thing asked for does not exist (or the caller may not know that it does). */
export class NotFoundError extends DomainError {
  readonly code = 'NOT_FOUND';
  readonly httpStatus = 404;
  constructor(message: string) {
    super(message);
    this.name = 'NotFoundError';
  }
}

/** The change would clash with existing data: a duplicate name, an object still in use. */
export class ConflictError extends DomainError {
  readonly code = 'CONFLICT';
  readonly httpStatus = 409;
  constructor(message: string) {
    super(message);
    this.name = 'ConflictError';
  }
}

/** No valid credentials came with the request. */
export class UnauthenticatedError extends DomainError {
  readonly code = 'UNAUTHENTICATED';
  readonly httpStatus = 401;
  constructor(message = 'Sign in, or send an API key as "Authorization: Bearer <key>".') {
    super(message);
    this.name = 'UnauthenticatedError';
  }
}

/** The caller is known but its role does not allow this. */
export class ForbiddenError extends DomainError {
  readonly code = 'FORBIDDEN';
  readonly httpStatus = 403;
  constructor(message: string) {
    super(message);
    this.name = 'ForbiddenError';
  }
}

/** Too many attempts; try again later. */
export class RateLimitedError extends DomainError {
  readonly code = 'RATE_LIMITED';
  readonly httpStatus = 429;
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
    this.name = 'RateLimitedError';
  }
}
