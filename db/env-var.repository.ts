/**
 * Environment variables, global (no owner) or owned by one script, group or host. A secret's
 * value is stored sealed (`value_encrypted`) and only ever leaves this file sealed.
 */
import { sql, type Selectable } from 'kysely';
import type { Db } from './database';
import type { EnvVarsTable } from './schema';

export type EnvOwner = { kind: 'global' } | { kind: 'script' | 'group' | 'host'; id: string };

export interface EnvVar {
  id: string;
  key: string;
  /** Null for a secret. */
  value: string | null;
  secret: boolean;
  /** The owner's id (null for global variables). */
  ownerId: string | null;
}

/** A variable to store: a plain value, or a sealed secret. */
export type NewEnvVar = { key: string; secret: false; value: string } | { key: string; secret: true; sealed: Buffer };

function toEnvVar(row: Selectable<EnvVarsTable>): EnvVar {
  return {
    id: row.id,
    key: row.key,
    value: row.secret ? null : row.value,
    secret: row.secret,
    ownerId: row.script_id ?? row.group_id ?? row.host_id,
  };
}

const ownerColumn = { script: 'script_id', group: 'group_id', host: 'host_id' } as const;

function whereOwner<Q extends { where: (...args: any[]) => Q }>(query: Q, owner: EnvOwner): Q {
  if (owner.kind === 'global') {
    return query.where(sql<boolean>`num_nonnulls(script_id, group_id, host_id) = 0`);
  }
  return query.where(ownerColumn[owner.kind], '=', owner.id);
}

export async function listEnvVars(db: Db, owner: EnvOwner): Promise<EnvVar[]> {
  const rows = await whereOwner(db.selectFrom('env_vars').selectAll(), owner).orderBy('position').execute();
  return rows.map(toEnvVar);
}

/** The variables of many owners of one kind, for a DataLoader. */
export async function listEnvVarsOfOwners(db: Db, kind: 'script' | 'group' | 'host', ids: readonly string[]): Promise<EnvVar[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('env_vars').selectAll().where(ownerColumn[kind], 'in', ids).orderBy('position').execute();
  return rows.map(toEnvVar);
}

/** The sealed values of an owner's secrets, by key (to keep them across a replace). */
export async function sealedSecrets(db: Db, owner: EnvOwner): Promise<Map<string, Buffer>> {
  const rows = await whereOwner(db.selectFrom('env_vars').select(['key', 'value_encrypted']).where('secret', '=', true), owner).execute();
  return new Map(rows.map((row) => [row.key, row.value_encrypted!]));
}

/** Replaces an owner's variables with `vars`, in order. Use inside a transaction. */
export async function replaceEnvVars(db: Db, owner: EnvOwner, vars: NewEnvVar[]): Promise<void> {
  await whereOwner(db.deleteFrom('env_vars'), owner).execute();
  if (vars.length === 0) return;
  const column = owner.kind === 'global' ? undefined : ownerColumn[owner.kind];
  await db
    .insertInto('env_vars')
    .values(
      vars.map((v, position) => ({
        ...(column && owner.kind !== 'global' ? { [column]: owner.id } : {}),
        key: v.key,
        secret: v.secret,
        value: v.secret ? null : v.value,
        value_encrypted: v.secret ? v.sealed : null,
        position,
      })),
    )
    .execute();
}

/** A variable as the executor reads it: its owner, and a secret's value still sealed. */
export interface ExecutionEnvVar {
  owner: EnvOwner;
  key: string;
  value: string | null;
  sealed: Buffer | null;
}
