/**
 * Managing hosts: creating, changing and deleting them, their groups and environment, and their
 * agent keys (shown once, stored hashed). The `local` host is the server itself: it keeps its
 * name, is never deleted and never gets an agent key.
 */
import type { Db } from '../db/database';
import { listEnvVars } from '../db/env-var.repository';
import { findGroupsByIds, listGroupsOfHosts, replaceGroupsOfHost } from '../db/group.repository';
import {
  deleteHostRow,
  findHostById,
  findHostByKeyPrefix,
  insertHost,
  schedulesTargetingHost,
  setHostKey,
  updateHostRow,
  type Host,
  type HostValues,
} from '../db/host.repository';
import { audited, diff, type ChangeDeps } from './audit';
import { envProblems, envSummary, saveEnvironment, type EnvVarInput } from './environment';
import { ConflictError, NotFoundError, ValidationError, type FieldProblem } from './errors';
import { generateHostKey, hostKeyMatches, hostKeyPrefix } from './host-key';
import type { SecretBox } from './secrets';
import { FOREIGN_KEY_VIOLATION, pgError, UNIQUE_VIOLATION } from '../db/postgres-error';

export const NAME_MAX = 140;
export const DESCRIPTION_MAX = 10_000;
const ADDRESS_MAX = 255;

// Shared with core/group.service.ts: the rules for a name and a description.

export function nameProblems(name: string | undefined, what: string): FieldProblem[] {
  if (name === undefined) return [];
  const path = ['input', 'name'];
  if (name.trim().length === 0) return [{ path, message: `Give the ${what} a name.` }];
  if (name.length > NAME_MAX) return [{ path, message: `A ${what} name is at most ${NAME_MAX} characters.` }];
  if (name.includes('\0')) return [{ path, message: `A ${what} name cannot contain a NUL character.` }];
  return [];
}

export function descriptionProblems(description: string | undefined): FieldProblem[] {
  if (description === undefined) return [];
  const path = ['input', 'description'];
  if (description.length > DESCRIPTION_MAX) return [{ path, message: `A description is at most ${DESCRIPTION_MAX.toLocaleString('en')} characters.` }];
  if (description.includes('\0')) return [{ path, message: 'A description cannot contain a NUL character.' }];
  return [];
}

export function throwIfAny(problems: FieldProblem[]): void {
  if (problems.length > 0) throw new ValidationError(problems.map((p) => p.message).join(' '), problems);
}

export interface HostInput {
  name?: string;
  description?: string;
  /** A hostname or IP the server knows the host by; null or "" for none. */
  address?: string | null;
  port?: number | null;
  enabled?: boolean;
  groupIds?: string[];
  environment?: EnvVarInput[];
}

function hostProblems(input: HostInput): FieldProblem[] {
  const problems = [...nameProblems(input.name, 'host'), ...descriptionProblems(input.description)];
  const address = input.address?.trim();
  if (address) {
    if (address.length > ADDRESS_MAX || /[\s\0]/.test(address)) {
      problems.push({ path: ['input', 'address'], message: `An address is a hostname or IP address of at most ${ADDRESS_MAX} characters, without spaces.` });
    }
  }
  if (input.port !== undefined && input.port !== null && (!Number.isInteger(input.port) || input.port < 1 || input.port > 65535)) {
    problems.push({ path: ['input', 'port'], message: `A port is between 1 and 65535 (got ${input.port}).` });
  }
  return [...problems, ...envProblems(input.environment ?? [], ['input', 'environment'])];
}

/** The host's fields as given, trimmed, with "" meaning no address. */
function hostValues(input: HostInput): Partial<HostValues> {
  const values: Partial<HostValues> = {};
  if (input.name !== undefined) values.name = input.name.trim();
  if (input.description !== undefined) values.description = input.description;
  if (input.address !== undefined) values.address = input.address?.trim() || null;
  if (input.port !== undefined) values.port = input.port;
  if (input.enabled !== undefined) values.enabled = input.enabled;
  return values;
}

/** Makes `groupIds` a host's groups, or throws a NotFoundError listing those that do not exist. */
async function setGroups(db: Db, hostId: string, groupIds: readonly string[]): Promise<void> {
  const found = new Set((await findGroupsByIds(db, groupIds)).map((group) => group.id));
  const missing = groupIds.filter((id) => !found.has(id));
  if (missing.length > 0) throw new NotFoundError(`There is no group with id ${missing.map((id) => `"${id}"`).join(', ')}.`);
  await replaceGroupsOfHost(db, hostId, groupIds);
}

/** What the audit log keeps of a host: its settings, group names and variable names. */
async function hostSummary(db: Db, host: Host): Promise<Record<string, unknown>> {
  const [[groups], environment] = await Promise.all([listGroupsOfHosts(db, [host.id]), listEnvVars(db, { kind: 'host', id: host.id })]);
  return {
    name: host.name,
    description: host.description,
    address: host.address,
    port: host.port,
    enabled: host.enabled,
    groups: (groups ?? []).map((group) => group.name),
    environment: envSummary(environment),
  };
}

/** Turns a broken unique index into words. */
function hostConflict(error: unknown, values: Partial<HostValues>): unknown {
  const { code, constraint } = pgError(error);
  if (code !== UNIQUE_VIOLATION) return error;
  if (constraint === 'hosts_name_key') return new ConflictError(`A host named "${values.name}" already exists.`);
  if (constraint === 'hosts_address_key') return new ConflictError(`Another host already has the address "${values.address}".`);
  return error;
}

async function existingHost(db: Db, id: string): Promise<Host> {
  const host = await findHostById(db, id);
  if (!host) throw new NotFoundError(`There is no host with id "${id}".`);
  return host;
}

/** Creates an agent host and its agent key; the key is returned this once and never again. */
export async function createHost(
  deps: ChangeDeps,
  secrets: SecretBox,
  input: HostInput & { name: string },
): Promise<{ host: Host; agentKey: string }> {
  throwIfAny(hostProblems(input));
  const values = { description: '', address: null, port: null, enabled: true, ...hostValues(input) } as HostValues;
  try {
    return await audited(deps, async (trx, record) => {
      const inserted = await insertHost(trx, values);
      if (input.groupIds?.length) await setGroups(trx, inserted.id, input.groupIds);
      if (input.environment?.length) await saveEnvironment(trx, secrets, { kind: 'host', id: inserted.id }, input.environment, ['input', 'environment']);
      const key = generateHostKey();
      const host = (await setHostKey(trx, inserted.id, key))!;
      record({
        action: 'host.created',
        objectType: 'Host',
        objectId: host.id,
        objectName: host.name,
        summary: `Created host "${host.name}"`,
        details: { after: { ...(await hostSummary(trx, host)), agentKeyPrefix: host.agentKeyPrefix } },
      });
      return { host, agentKey: key.token };
    });
  } catch (error) {
    throw hostConflict(error, values);
  }
}

/** Changes the fields given; lists given replace the host's groups or variables. */
export async function updateHost(deps: ChangeDeps, secrets: SecretBox, id: string, input: HostInput): Promise<Host> {
  throwIfAny(hostProblems(input));
  const values = hostValues(input);
  try {
    return await audited(deps, async (trx, record) => {
      const current = await existingHost(trx, id);
      if (current.kind === 'local') localHostRules(current, values);
      const before = await hostSummary(trx, current);
      const host = (await updateHostRow(trx, id, values))!;
      if (input.groupIds) await setGroups(trx, id, input.groupIds);
      if (input.environment) await saveEnvironment(trx, secrets, { kind: 'host', id }, input.environment, ['input', 'environment']);
      const changes = diff(before, await hostSummary(trx, host));
      record({
        action: 'host.updated',
        objectType: 'Host',
        objectId: host.id,
        objectName: host.name,
        summary: `Updated host "${host.name}"`,
        details: changes,
      });
      return host;
    });
  } catch (error) {
    throw hostConflict(error, values);
  }
}

/** The server's own host keeps its name and needs no address to be reached. */
function localHostRules(host: Host, values: Partial<HostValues>): void {
  const problems: FieldProblem[] = [];
  if (values.name !== undefined && values.name !== host.name) {
    problems.push({ path: ['input', 'name'], message: `The local host is the Runboard server itself and is always named "${host.name}".` });
  }
  if (values.address || values.port) {
    problems.push({ path: ['input', 'address'], message: 'The local host is the Runboard server itself: it has no address or port.' });
  }
  throwIfAny(problems);
}

/** Deletes an agent host, unless a schedule still targets it. */
export async function deleteHost(deps: ChangeDeps, id: string): Promise<Host> {
  try {
    return await audited(deps, async (trx, record) => {
      const host = await existingHost(trx, id);
      if (host.kind === 'local') throw new ConflictError('The local host is the Runboard server itself and cannot be deleted.');
      const schedules = await schedulesTargetingHost(trx, id);
      if (schedules.length > 0) throw scheduledHost(host, schedules);
      const before = await hostSummary(trx, host);
      await deleteHostRow(trx, id);
      record({
        action: 'host.deleted',
        objectType: 'Host',
        objectId: host.id,
        objectName: host.name,
        summary: `Deleted host "${host.name}"`,
        details: { before },
      });
      return host;
    });
  } catch (error) {
    // A schedule that began targeting the host after the check above.
    if (pgError(error).code === FOREIGN_KEY_VIOLATION) {
      const host = await findHostById(deps.db, id);
      if (host) throw scheduledHost(host, await schedulesTargetingHost(deps.db, id));
    }
    throw error;
  }
}

function scheduledHost(host: Host, schedules: string[]): ConflictError {
  const names = schedules.map((name) => `"${name}"`).join(', ');
  const [which, verb, those] = schedules.length === 1 ? ['the schedule', 'targets', 'that schedule'] : ['the schedules', 'target', 'those schedules'];
  return new ConflictError(`Host "${host.name}" cannot be deleted: ${which} ${names} ${verb} it. Change or delete ${those} first.`);
}

/** Issues a new agent key (the old one stops working at once); the key is returned this once. */
export async function rotateHostKey(deps: ChangeDeps, id: string): Promise<{ host: Host; agentKey: string }> {
  return audited(deps, async (trx, record) => {
    const current = await existingHost(trx, id);
    if (current.kind === 'local') throw new ConflictError('The local host is the Runboard server itself: it runs no agent and needs no agent key.');
    const key = generateHostKey();
    const host = (await setHostKey(trx, id, key))!;
    record({
      action: 'host.key_rotated',
      objectType: 'Host',
      objectId: host.id,
      objectName: host.name,
      summary: `Issued a new agent key for host "${host.name}"`,
      details: { before: { agentKeyPrefix: current.agentKeyPrefix }, after: { agentKeyPrefix: host.agentKeyPrefix } },
    });
    return { host, agentKey: key.token };
  });
}

/** Removes a host's agent key: its agent can no longer connect until a new key is issued. */
export async function revokeHostKey(deps: ChangeDeps, id: string): Promise<Host> {
  return audited(deps, async (trx, record) => {
    const current = await existingHost(trx, id);
    if (!current.agentKeyPrefix) return current;
    const host = (await setHostKey(trx, id, null))!;
    record({
      action: 'host.key_revoked',
      objectType: 'Host',
      objectId: host.id,
      objectName: host.name,
      summary: `Revoked the agent key of host "${host.name}"`,
      details: { before: { agentKeyPrefix: current.agentKeyPrefix }, after: { agentKeyPrefix: null } },
    });
    return host;
  });
}

/**
 * The host an agent key belongs to, or undefined when the key is malformed, unknown, revoked or
 * replaced. A disabled host still authenticates (it shows as online); it is just given no runs.
 */
export async function authenticateHostKey(db: Db, token: string): Promise<Host | undefined> {
  const prefix = hostKeyPrefix(token);
  const found = prefix ? await findHostByKeyPrefix(db, prefix) : undefined;
  return found && hostKeyMatches(token, found.keyHash) ? found.host : undefined;
}
