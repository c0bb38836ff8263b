/** API keys: each person creates, lists and revokes their own. */
import {
  findApiKeyOfUser,
  insertApiKey,
  listApiKeysOfUser,
  revokeApiKey as revokeApiKeyRow,
  type ApiKey,
} from '../db/api-key.repository';
import type { Db } from '../db/database';
import { generateApiKeyToken } from './api-key';
import type { Viewer } from './auth.service';
import { ConflictError, NotFoundError, ValidationError } from './errors';
import { isUuid } from './ids';
import { roleAllows, type Role } from './roles';

export interface CreateApiKeyInput {
  name: string;
  /** Most the key may do; defaults to the creator's role and may not exceed it. */
  roleCeiling?: Role | null;
  expiresAt?: Date | null;
}

/** Creates a key for the viewer; the token is returned once and never stored. */
export async function createApiKey(db: Db, viewer: Viewer, input: CreateApiKeyInput): Promise<{ apiKey: ApiKey; token: string }> {
  const name = input.name.trim();
  if (name.length < 1 || name.length > 100) {
    throw new ValidationError('Give the key a name of 1–100 characters.', [{ path: ['input', 'name'], message: 'Give the key a name of 1–100 characters.' }]);
  }
  const roleCeiling = input.roleCeiling ?? viewer.role;
  if (!roleAllows(viewer.role, roleCeiling)) {
    const message = `A key cannot do more than you: your role is ${viewer.role}, the key asked for ${roleCeiling}.`;
    throw new ValidationError(message, [{ path: ['input', 'role'], message }]);
  }
  if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
    throw new ValidationError('The expiry must be in the future.', [{ path: ['input', 'expiresAt'], message: 'The expiry must be in the future.' }]);
  }
  const { prefix, token, hash } = generateApiKeyToken();
  const apiKey = await insertApiKey(db, {
    userId: viewer.user.id,
    name,
    prefix,
    secretHash: hash,
    roleCeiling,
    expiresAt: input.expiresAt ?? null,
  });
  if (!apiKey) throw new ConflictError(`You already have a key named "${name}".`);
  return { apiKey, token };
}

export function listOwnApiKeys(db: Db, viewer: Viewer): Promise<ApiKey[]> {
  return listApiKeysOfUser(db, viewer.user.id);
}

export async function revokeOwnApiKey(db: Db, viewer: Viewer, id: string): Promise<ApiKey> {
  const key = isUuid(id) ? await findApiKeyOfUser(db, viewer.user.id, id) : undefined;
  if (!key) throw new NotFoundError(`You have no API key with id "${id}".`);
  if (key.revokedAt) return key;
  return (await revokeApiKeyRow(db, key.id)) ?? key;
}
