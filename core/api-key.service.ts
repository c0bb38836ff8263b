/** API keys: each person creates, lists and revokes their own. */
import {
  findApiKeyOfUser,
  insertApiKey,
  listApiKeysOfUser,
  revokeApiKey as revokeApiKeyRow,
  type ApiKey,
} from '../db/api-key.repository';
import type { Db } from '../db/database';
import type { Page, PageArgs } from '../db/pagination';
import { audited, type ChangeDeps } from './audit';
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

/**
 * The name and role ceiling of a new key (API or access key) of the viewer's: a name of 1–100
 * characters, and a ceiling no higher than the viewer's role (default: that role).
 */
export function newKeyNameAndCeiling(viewer: Viewer, input: { name: string; roleCeiling?: Role | null }): { name: string; roleCeiling: Role } {
  const name = input.name.trim();
  if (name.length < 1 || name.length > 100) {
    throw new ValidationError('Give the key a name of 1–100 characters.', [{ path: ['input', 'name'], message: 'Give the key a name of 1–100 characters.' }]);
  }
  const roleCeiling = input.roleCeiling ?? viewer.role;
  if (!roleAllows(viewer.role, roleCeiling)) {
    const message = `A key cannot do more than you: your role is ${viewer.role}, the key asked for ${roleCeiling}.`;
    throw new ValidationError(message, [{ path: ['input', 'role'], message }]);
  }
  return { name, roleCeiling };
}

/** Creates a key for the viewer; the token is returned once and never stored. */
export async function createApiKey(deps: ChangeDeps, viewer: Viewer, input: CreateApiKeyInput): Promise<{ apiKey: ApiKey; token: string }> {
  const { name, roleCeiling } = newKeyNameAndCeiling(viewer, input);
  if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
    throw new ValidationError('The expiry must be in the future.', [{ path: ['input', 'expiresAt'], message: 'The expiry must be in the future.' }]);
  }
  const { prefix, token, hash } = generateApiKeyToken();
  return audited(deps, async (trx, record) => {
    const apiKey = await insertApiKey(trx, { userId: viewer.user.id, name, prefix, secretHash: hash, roleCeiling, expiresAt: input.expiresAt ?? null });
    if (!apiKey) throw new ConflictError(`You already have a key named "${name}".`);
    record({
      action: 'api_key.created',
      objectType: 'ApiKey',
      objectId: apiKey.id,
      objectName: apiKey.name,
      summary: `Created API key "${apiKey.name}" (${apiKey.prefix}, ${apiKey.roleCeiling})`,
      details: { after: { name: apiKey.name, prefix: apiKey.prefix, role: apiKey.roleCeiling, expiresAt: apiKey.expiresAt } },
    });
    return { apiKey, token };
  });
}

export function listOwnApiKeys(db: Db, viewer: Viewer, args: PageArgs): Promise<Page<ApiKey>> {
  return listApiKeysOfUser(db, viewer.user.id, args);
}

/** Revokes one of the viewer's keys (revoking a revoked key changes nothing). */
export async function revokeOwnApiKey(deps: ChangeDeps, viewer: Viewer, id: string): Promise<ApiKey> {
  const key = isUuid(id) ? await findApiKeyOfUser(deps.db, viewer.user.id, id) : undefined;
  if (!key) throw new NotFoundError(`You have no API key with id "${id}".`);
  if (key.revokedAt) return key;
  return audited(deps, async (trx, record) => {
    const revoked = (await revokeApiKeyRow(trx, key.id)) ?? key;
    record({ action: 'api_key.revoked', objectType: 'ApiKey', objectId: key.id, objectName: key.name, summary: `Revoked API key "${key.name}" (${key.prefix})` });
    return revoked;
  });
}
