/**
 * Managing groups: their hosts (membership), the scripts they may run and their environment. A
 * group that something still relies on (hosts, agent registration, schedules) is not deleted.
 */
import type { Db } from '../db/database';
import { listEnvVars } from '../db/env-var.repository';
import {
  addHostsToGroup as addMembers,
  deleteGroupRow,
  findGroupById,
  groupUsage,
  hostIdsOfGroup,
  insertGroup,
  listScriptsOfGroups,
  removeHostsFromGroup as removeMembers,
  replaceScriptsOfGroup,
  updateGroupRow,
  type Group,
  type GroupValues,
} from '../db/group.repository';
import { findHostsByIds } from '../db/host.repository';
import { findScriptsByIds } from '../db/script.repository';
import { audited, diff, type ChangeDeps, type RecordChange } from './audit';
import { envProblems, envSummary, saveEnvironment, type EnvVarInput } from './environment';
import { ConflictError, NotFoundError } from './errors';
import { descriptionProblems, nameProblems, throwIfAny } from './host.service';
import type { SecretBox } from './secrets';
import { FOREIGN_KEY_VIOLATION, pgError, UNIQUE_VIOLATION } from '../db/postgres-error';

export interface GroupInput {
  name?: string;
  description?: string;
  hostIds?: string[];
  scriptIds?: string[];
  environment?: EnvVarInput[];
}

/** A changed group, and the hosts that joined or left it (their `groups` changed too). */
export interface GroupChange {
  group: Group;
  hostIds: string[];
}

function groupValues(input: GroupInput): Partial<GroupValues> {
  const values: Partial<GroupValues> = {};
  if (input.name !== undefined) values.name = input.name.trim();
  if (input.description !== undefined) values.description = input.description;
  return values;
}

function validate(input: GroupInput): void {
  throwIfAny([
    ...nameProblems(input.name, 'group'),
    ...descriptionProblems(input.description),
    ...envProblems(input.environment ?? [], ['input', 'environment']),
  ]);
}

function groupConflict(error: unknown, values: Partial<GroupValues>): unknown {
  const { code, constraint } = pgError(error);
  if (code === UNIQUE_VIOLATION && constraint === 'groups_name_key') return new ConflictError(`A group named "${values.name}" already exists.`);
  return error;
}

async function existingGroup(db: Db, id: string): Promise<Group> {
  const group = await findGroupById(db, id);
  if (!group) throw new NotFoundError(`There is no group with id "${id}".`);
  return group;
}

const quoted = (ids: readonly string[]) => ids.map((id) => `"${id}"`).join(', ');

/** The names of the hosts `ids`, or a NotFoundError listing those that do not exist. */
async function hostNames(db: Db, ids: readonly string[]): Promise<Map<string, string>> {
  const found = new Map((await findHostsByIds(db, ids)).map((host) => [host.id, host.name]));
  const missing = ids.filter((id) => !found.has(id));
  if (missing.length > 0) throw new NotFoundError(`There is no host with id ${quoted(missing)}.`);
  return found;
}

async function checkScripts(db: Db, ids: readonly string[]): Promise<void> {
  const found = new Set((await findScriptsByIds(db, ids)).map((script) => script.id));
  const missing = ids.filter((id) => !found.has(id));
  if (missing.length > 0) throw new NotFoundError(`There is no script with id ${quoted(missing)}.`);
}

/** What the audit log keeps of a group: its settings, script names and variable names. */
async function groupSummary(db: Db, group: Group): Promise<Record<string, unknown>> {
  const [[scripts], environment] = await Promise.all([listScriptsOfGroups(db, [group.id]), listEnvVars(db, { kind: 'group', id: group.id })]);
  return {
    name: group.name,
    description: group.description,
    scripts: (scripts ?? []).map((script) => script.name),
    environment: envSummary(environment),
  };
}

type Membership = { set: readonly string[] } | { add: readonly string[] } | { remove: readonly string[] };

/** Changes a group's hosts; returns the names of those that joined and left. */
async function changeMembers(db: Db, groupId: string, change: Membership): Promise<{ added: string[]; removed: string[]; hostIds: string[] }> {
  const given = 'set' in change ? change.set : 'add' in change ? change.add : change.remove;
  const names = await hostNames(db, given);
  const current = new Set(await hostIdsOfGroup(db, groupId));
  const added = 'remove' in change ? [] : given.filter((id) => !current.has(id));
  const removed =
    'remove' in change ? given.filter((id) => current.has(id)) : 'set' in change ? [...current].filter((id) => !given.includes(id)) : [];
  await addMembers(db, groupId, added);
  await removeMembers(db, groupId, removed);
  const leftNames = new Map((await findHostsByIds(db, removed)).map((host) => [host.id, host.name]));
  return {
    added: added.map((id) => names.get(id)!),
    removed: removed.map((id) => names.get(id) ?? leftNames.get(id)!),
    hostIds: [...added, ...removed],
  };
}

function recordUpdate(record: RecordChange, group: Group, details: Record<string, unknown>, summary = `Updated group "${group.name}"`): void {
  record({ action: 'group.updated', objectType: 'Group', objectId: group.id, objectName: group.name, summary, details });
}

export async function createGroup(deps: ChangeDeps, secrets: SecretBox, input: GroupInput & { name: string }): Promise<GroupChange> {
  validate(input);
  const values = { description: '', ...groupValues(input) } as GroupValues;
  try {
    return await audited(deps, async (trx, record) => {
      const group = await insertGroup(trx, values);
      const members = await changeMembers(trx, group.id, { set: input.hostIds ?? [] });
      if (input.scriptIds?.length) {
        await checkScripts(trx, input.scriptIds);
        await replaceScriptsOfGroup(trx, group.id, input.scriptIds);
      }
      if (input.environment?.length) await saveEnvironment(trx, secrets, { kind: 'group', id: group.id }, input.environment, ['input', 'environment']);
      record({
        action: 'group.created',
        objectType: 'Group',
        objectId: group.id,
        objectName: group.name,
        summary: `Created group "${group.name}"`,
        details: { after: { ...(await groupSummary(trx, group)), hosts: members.added } },
      });
      return { group, hostIds: members.hostIds };
    });
  } catch (error) {
    throw groupConflict(error, values);
  }
}

/** Changes the fields given; lists given replace the group's hosts, scripts or variables. */
export async function updateGroup(deps: ChangeDeps, secrets: SecretBox, id: string, input: GroupInput): Promise<GroupChange> {
  validate(input);
  const values = groupValues(input);
  try {
    return await audited(deps, async (trx, record) => {
      const before = await groupSummary(trx, await existingGroup(trx, id));
      const group = (await updateGroupRow(trx, id, values))!;
      const members = input.hostIds ? await changeMembers(trx, id, { set: input.hostIds }) : undefined;
      if (input.scriptIds) {
        await checkScripts(trx, input.scriptIds);
        await replaceScriptsOfGroup(trx, id, input.scriptIds);
      }
      if (input.environment) await saveEnvironment(trx, secrets, { kind: 'group', id }, input.environment, ['input', 'environment']);
      const changes = diff(before, await groupSummary(trx, group));
      recordUpdate(record, group, { ...changes, ...(members && { hosts: { added: members.added, removed: members.removed } }) });
      return { group, hostIds: members?.hostIds ?? [] };
    });
  } catch (error) {
    throw groupConflict(error, values);
  }
}

/** Why a group cannot be deleted yet, in words; empty when nothing relies on it. */
async function deleteBlockers(db: Db, groupId: string): Promise<string[]> {
  const usage = await groupUsage(db, groupId);
  const reasons: string[] = [];
  if (usage.hostCount > 0) reasons.push(`it still has ${usage.hostCount === 1 ? '1 host' : `${usage.hostCount} hosts`} (remove them first)`);
  if (usage.registrationDefault) reasons.push('it is the default group for agent registration (choose another in the options)');
  if (usage.registrationRules > 0) {
    reasons.push(`${usage.registrationRules === 1 ? '1 registration rule puts' : `${usage.registrationRules} registration rules put`} new hosts in it`);
  }
  if (usage.schedules.length > 0) {
    const names = usage.schedules.map((name) => `"${name}"`).join(', ');
    reasons.push(`${usage.schedules.length === 1 ? 'the schedule' : 'the schedules'} ${names} ${usage.schedules.length === 1 ? 'targets' : 'target'} it`);
  }
  return reasons;
}

function inUse(group: Group, reasons: string[]): ConflictError {
  return new ConflictError(`Group "${group.name}" cannot be deleted: ${reasons.join('; ')}.`);
}

/** Deletes a group that nothing relies on any more. */
export async function deleteGroup(deps: ChangeDeps, id: string): Promise<Group> {
  try {
    return await audited(deps, async (trx, record) => {
      const group = await existingGroup(trx, id);
      const reasons = await deleteBlockers(trx, id);
      if (reasons.length > 0) throw inUse(group, reasons);
      const before = await groupSummary(trx, group);
      await deleteGroupRow(trx, id);
      record({
        action: 'group.deleted',
        objectType: 'Group',
        objectId: group.id,
        objectName: group.name,
        summary: `Deleted group "${group.name}"`,
        details: { before },
      });
      return group;
    });
  } catch (error) {
    // Something began to rely on the group after the check above (a rule, a schedule, options).
    if (pgError(error).code === FOREIGN_KEY_VIOLATION) {
      const group = await findGroupById(deps.db, id);
      if (group) throw inUse(group, await deleteBlockers(deps.db, id));
    }
    throw error;
  }
}

function membershipSummary(group: Group, added: string[], removed: string[]): string {
  const parts: string[] = [];
  if (added.length) parts.push(`added ${added.map((n) => `"${n}"`).join(', ')}`);
  if (removed.length) parts.push(`removed ${removed.map((n) => `"${n}"`).join(', ')}`);
  return parts.length ? `Group "${group.name}": ${parts.join('; ')}` : `Group "${group.name}": hosts unchanged`;
}

/** Replaces, extends or shrinks a group's hosts. */
export async function changeGroupHosts(deps: ChangeDeps, groupId: string, change: Membership): Promise<GroupChange> {
  return audited(deps, async (trx, record) => {
    await existingGroup(trx, groupId);
    const members = await changeMembers(trx, groupId, change);
    if (members.hostIds.length === 0) return { group: (await findGroupById(trx, groupId))!, hostIds: [] };
    const group = (await updateGroupRow(trx, groupId, {}))!;
    recordUpdate(record, group, { hosts: { added: members.added, removed: members.removed } }, membershipSummary(group, members.added, members.removed));
    return { group, hostIds: members.hostIds };
  });
}

/** Sets which scripts a group's hosts may run. */
export async function setGroupScripts(deps: ChangeDeps, groupId: string, scriptIds: readonly string[]): Promise<Group> {
  return audited(deps, async (trx, record) => {
    const before = await groupSummary(trx, await existingGroup(trx, groupId));
    await checkScripts(trx, scriptIds);
    await replaceScriptsOfGroup(trx, groupId, scriptIds);
    const group = (await updateGroupRow(trx, groupId, {}))!;
    recordUpdate(record, group, diff(before, await groupSummary(trx, group)));
    return group;
  });
}
