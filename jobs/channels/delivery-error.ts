/**
 * A delivery attempt failed in a way worth recording for people: the message says what the
 * receiver did (or why it could not be reached), never a secret such as the webhook URL.
 */
export class DeliveryError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DeliveryError';
  }
}

/** The reason of an unexpected error, in one line, without a stack. */
export function reasonOf(error: unknown): string {
  if (error instanceof DeliveryError) return error.message;
  const err = error as { message?: string; code?: string; cause?: { message?: string; code?: string } };
  const cause = err?.cause?.code ?? err?.cause?.message;
  return [err?.message ?? String(error), cause].filter(Boolean).join(': ').slice(0, 1000);
}
