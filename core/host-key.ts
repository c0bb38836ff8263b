/**
 * Agent keys: `rbh_<prefix>_<secret>`, the credential a host's agent dials in with. Same scheme as
 * API keys (core/api-key.ts): the prefix is public and finds the host row; only a SHA-256 of the
 * whole token is stored, which is enough for 256 random bits.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface NewHostKey {
  prefix: string;
  token: string;
  hash: Buffer;
}

export function generateHostKey(): NewHostKey {
  const prefix = randomBytes(6).toString('hex');
  const token = `rbh_${prefix}_${randomBytes(32).toString('base64url')}`;
  return { prefix, token, hash: hashHostKey(token) };
}

export function hashHostKey(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** The prefix of a well-formed host key, else undefined. */
export function hostKeyPrefix(token: string): string | undefined {
  return /^rbh_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/.exec(token)?.[1];
}

/** Constant-time comparison of a presented key with a stored hash. */
export function hostKeyMatches(token: string, storedHash: Buffer): boolean {
  const presented = hashHostKey(token);
  return presented.length === storedHash.length && timingSafeEqual(presented, storedHash);
}
