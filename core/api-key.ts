/**
 * API key tokens: `rbk_<prefix>_<secret>`. The prefix is public (it finds the key row and is
 * shown in lists); only a SHA-256 of the whole token is stored. Tokens carry 256 random bits, so
 * a fast hash is enough — no password-style stretching needed.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface NewToken {
  prefix: string;
  token: string;
  hash: Buffer;
}

export function generateApiKeyToken(): NewToken {
  const prefix = randomBytes(6).toString('hex');
  const token = `rbk_${prefix}_${randomBytes(32).toString('base64url')}`;
  return { prefix, token, hash: hashApiKeyToken(token) };
}

export function hashApiKeyToken(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** The prefix of a well-formed token, else undefined. */
export function apiKeyPrefix(token: string): string | undefined {
  return /^rbk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/.exec(token)?.[1];
}

/** Constant-time comparison of a presented token with a stored hash. */
export function apiKeyMatches(token: string, storedHash: Buffer): boolean {
  const presented = hashApiKeyToken(token);
  return presented.length === storedHash.length && timingSafeEqual(presented, storedHash);
}
