/**
 * Access keys sign requests the way VirtShell's clients do (COMPAT.md "VirtShell"): a public key
 * id and a secret; a request carries `<keyId>:<signature>`, where the signature is
 * Base64(HMAC-SHA1(secret, string to sign)). The secret carries 240 random bits.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface NewAccessKey {
  keyId: string;
  secret: string;
}

export function generateAccessKey(): NewAccessKey {
  return { keyId: `RBAK${randomBytes(8).toString('hex').toUpperCase()}`, secret: randomBytes(30).toString('base64url') };
}

/** Whether `keyId` has the shape of a key id (anything else is refused before a lookup). */
export function isAccessKeyId(keyId: string): boolean {
  return /^RBAK[0-9A-F]{16}$/.test(keyId);
}

/** Base64(HMAC-SHA1(secret, stringToSign)). */
export function signature(secret: string, stringToSign: string): string {
  return createHmac('sha1', secret).update(stringToSign, 'utf8').digest('base64');
}

/** Constant-time comparison of a presented signature with the one the secret gives. */
export function signatureMatches(secret: string, stringToSign: string, presented: string): boolean {
  const expected = Buffer.from(signature(secret, stringToSign));
  const given = Buffer.from(presented);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
