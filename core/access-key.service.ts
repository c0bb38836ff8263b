/**
 * Access keys: each person creates, lists and revokes their own; a signed request is checked
 * against the key's secret, opened from its seal for that moment only.
 */
import {
  findAccessKeyByKeyId,
  findAccessKeyOfUser,
  insertAccessKey,
  listAccessKeysOfUser,
  revokeAccessKey as revokeAccessKeyRow,
  touchAccessKey,
  type AccessKey,
} from '../db/access-key.repository';
import type { Db } from '../db/database';
import type { Page, PageArgs } from '../db/pagination';
import { findUserById } from '../db/user.repository';
import { generateAccessKey, isAccessKeyId, signatureMatches } from './access-key';
import { newKeyNameAndCeiling } from './api-key.service';
import { audited, type ChangeDeps } from './audit';
import type { AuthDeps, Viewer } from './auth.service';
import { ConflictError, NotFoundError, UnauthenticatedError } from './errors';
import { isUuid } from './ids';
import { throttleKeys } from './login-throttle';
import { weakerRole, type Role } from './roles';
import type { SecretBox } from './secrets';

export interface CreateAccessKeyInput {
  name: string;
  /** Most the key may do; defaults to the creator's role and may not exceed it. */
  roleCeiling?: Role | null;
}

/** Creates an access key for the viewer; the secret is returned once, and kept only sealed. */
export async function createAccessKey(
  deps: ChangeDeps & { secrets: SecretBox },
  viewer: Viewer,
  input: CreateAccessKeyInput,
): Promise<{ accessKey: AccessKey; secret: string }> {
  const { name, roleCeiling } = newKeyNameAndCeiling(viewer, input);
  const { keyId, secret } = generateAccessKey();
  return audited(deps, async (trx, record) => {
    const accessKey = await insertAccessKey(trx, { userId: viewer.user.id, name, keyId, secretSealed: deps.secrets.seal(secret), roleCeiling });
    if (!accessKey) throw new ConflictError(`You already have an access key named "${name}".`);
    record({
      action: 'access_key.created',
      objectType: 'AccessKey',
      objectId: accessKey.id,
      objectName: accessKey.name,
      summary: `Created access key "${accessKey.name}" (${accessKey.keyId}, ${accessKey.roleCeiling})`,
      details: { after: { name: accessKey.name, keyId: accessKey.keyId, role: accessKey.roleCeiling } },
    });
    return { accessKey, secret };
  });
}

export function listOwnAccessKeys(db: Db, viewer: Viewer, args: PageArgs): Promise<Page<AccessKey>> {
  return listAccessKeysOfUser(db, viewer.user.id, args);
}

/** Revokes one of the viewer's access keys (revoking a revoked key changes nothing). */
export async function revokeOwnAccessKey(deps: ChangeDeps, viewer: Viewer, id: string): Promise<AccessKey> {
  const key = isUuid(id) ? await findAccessKeyOfUser(deps.db, viewer.user.id, id) : undefined;
  if (!key) throw new NotFoundError(`You have no access key with id "${id}".`);
  if (key.revokedAt) return key;
  return audited(deps, async (trx, record) => {
    const revoked = (await revokeAccessKeyRow(trx, key.id)) ?? key;
    record({ action: 'access_key.revoked', objectType: 'AccessKey', objectId: key.id, objectName: key.name, summary: `Revoked access key "${key.name}" (${key.keyId})` });
    return revoked;
  });
}

/** A request signed with an access key: who claims to sign, the signature, and what was signed. */
export interface SignedRequest {
  accessKeyId: string;
  signature: string;
  stringToSign: string;
}

/**
 * The viewer of a signed request, or UnauthenticatedError saying what is wrong. Failures count
 * against the client address like wrong API keys do.
 */
export async function viewerFromAccessKey(deps: AuthDeps, request: SignedRequest, ip: string): Promise<Viewer> {
  const ipKey = throttleKeys.ip(ip);
  deps.throttle.check([ipKey]);
  const refuse = (message: string) => {
    deps.throttle.fail([ipKey]);
    return new UnauthenticatedError(message);
  };
  const found = isAccessKeyId(request.accessKeyId) ? await findAccessKeyByKeyId(deps.db, request.accessKeyId) : undefined;
  if (!found) throw refuse(`Unknown access key id "${request.accessKeyId.slice(0, 40)}".`);
  const { key } = found;
  if (!signatureMatches(deps.secrets.open(found.secretSealed), request.stringToSign, request.signature)) {
    throw refuse(`The signature does not match: sign, with the secret of ${key.keyId}, exactly this string: ${JSON.stringify(request.stringToSign)}.`);
  }
  if (key.revokedAt) throw refuse(`The access key "${key.name}" (${key.keyId}) was revoked.`);
  const user = await findUserById(deps.db, key.userId);
  if (!user) throw refuse(`Unknown access key id "${key.keyId}".`);
  if (!user.enabled) throw refuse(`The account "${user.username}" that owns this access key is disabled.`);
  await touchAccessKey(deps.db, key.id);
  return { user, role: weakerRole(user.role, key.roleCeiling), via: 'accessKey', accessKeyId: key.id };
}
