/**
 * Secrets at rest: AES-256-GCM under a key derived (HKDF-SHA256) from RUNBOARD_SECRET. A sealed
 * value is `v1 (1 byte) | iv (12) | tag (16) | ciphertext`, so a later key rotation can tell
 * versions apart. Only the executor opens secrets, and the check of a signed request its access
 * key's secret (core/access-key.service.ts); nothing that answers a query does.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The value stands in for a secret wherever one is shown. */
export const MASK = '••••••••';

export class SecretBox {
  readonly #key: Buffer;

  constructor(secret: string) {
    this.#key = Buffer.from(hkdfSync('sha256', secret, 'runboard', 'runboard secrets v1', 32));
  }

  seal(plaintext: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
  }

  /** Throws when the value was sealed under another key or has been tampered with. */
  open(sealed: Buffer): string {
    if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== VERSION) {
      throw new Error('This secret was not sealed by this version of Runboard.');
    }
    const iv = sealed.subarray(1, 1 + IV_BYTES);
    const tag = sealed.subarray(1 + IV_BYTES, 1 + IV_BYTES + TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', this.#key, iv);
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(sealed.subarray(1 + IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch (error) {
      throw new Error('A stored secret cannot be decrypted: RUNBOARD_SECRET is not the key it was stored with.', { cause: error });
    }
  }
}
