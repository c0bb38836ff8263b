/**
 * Server options: the single `options` row and the ordered host registration rules. The
 * registration PSK is stored sealed and only leaves this file sealed (`sealedRegistrationPsk`).
 */
import type { Selectable } from 'kysely';
import type { Db } from './database';
import type { OptionsTable, RegistrationRulesTable } from './schema';

export type RegistrationProperty = 'uname' | 'hostname';

export interface ServerOptions {
  /** The address agents and links use to reach this server; null when unset. */
  serverUrl: string | null;
  /** Which IP version outgoing connections use; null for either. */
  forceIpVersion: 4 | 6 | null;
  networkTimeoutSeconds: number;
  heartbeatSeconds: number;
  hostOfflineAfterSeconds: number;
  /** Whether a run's environment includes its host's key (Otto's OTTO_HOST_PSK). */
  includePskEnv: boolean;
  /** CIDRs whose check-in writes need no credentials. */
  anonymousCheckinNetworks: string[];
  registration: {
    enabled: boolean;
    /** Whether a pre-shared key is stored (its value never leaves the database unsealed). */
    pskSet: boolean;
    defaultGroupId: string | null;
  };
  updatedAt: Date;
}

export interface RegistrationRule {
  id: string;
  position: number;
  property: RegistrationProperty;
  /** A JavaScript regular expression tested against the property. */
  pattern: string;
  groupId: string;
}

export type NewRegistrationRule = Pick<RegistrationRule, 'property' | 'pattern' | 'groupId'>;

function toOptions(row: Selectable<OptionsTable>): ServerOptions {
  return {
    serverUrl: row.server_url,
    forceIpVersion: row.force_ip_version === 4 || row.force_ip_version === 6 ? row.force_ip_version : null,
    networkTimeoutSeconds: row.network_timeout_seconds,
    heartbeatSeconds: row.heartbeat_seconds,
    hostOfflineAfterSeconds: row.host_offline_after_seconds,
    includePskEnv: row.include_psk_env,
    anonymousCheckinNetworks: row.anonymous_checkin_networks,
    registration: {
      enabled: row.register_enabled,
      pskSet: row.register_psk_encrypted !== null,
      defaultGroupId: row.register_default_group_id,
    },
    updatedAt: row.updated_at,
  };
}

function toRule(row: Selectable<RegistrationRulesTable>): RegistrationRule {
  return { id: row.id, position: row.position, property: row.property, pattern: row.pattern, groupId: row.group_id };
}

/** The options (the migration creates the row, so there always is one). */
export async function getOptions(db: Db): Promise<ServerOptions> {
  return toOptions(await db.selectFrom('options').selectAll().executeTakeFirstOrThrow());
}

/** The options, locked until the transaction ends, so concurrent updates apply one after another. */
export async function lockOptions(trx: Db): Promise<ServerOptions> {
  return toOptions(await trx.selectFrom('options').selectAll().forUpdate().executeTakeFirstOrThrow());
}

export interface OptionsRowPatch {
  serverUrl?: string | null;
  forceIpVersion?: 4 | 6 | null;
  networkTimeoutSeconds?: number;
  heartbeatSeconds?: number;
  hostOfflineAfterSeconds?: number;
  includePskEnv?: boolean;
  anonymousCheckinNetworks?: string[];
  registrationEnabled?: boolean;
  /** A sealed key to store, or null to clear it; undefined keeps it. */
  registrationPskSealed?: Buffer | null;
  registrationDefaultGroupId?: string | null;
}

/** Changes the given columns (undefined ones are left alone). */
export async function updateOptionsRow(db: Db, patch: OptionsRowPatch): Promise<void> {
  await db
    .updateTable('options')
    .set({
      server_url: patch.serverUrl,
      force_ip_version: patch.forceIpVersion,
      network_timeout_seconds: patch.networkTimeoutSeconds,
      heartbeat_seconds: patch.heartbeatSeconds,
      host_offline_after_seconds: patch.hostOfflineAfterSeconds,
      include_psk_env: patch.includePskEnv,
      anonymous_checkin_networks: patch.anonymousCheckinNetworks,
      register_enabled: patch.registrationEnabled,
      register_psk_encrypted: patch.registrationPskSealed,
      register_default_group_id: patch.registrationDefaultGroupId,
      updated_at: new Date(),
    })
    .execute();
}

/** The sealed registration key, or null when none is set. Only for checking a registration. */
export async function sealedRegistrationPsk(db: Db): Promise<Buffer | null> {
  const row = await db.selectFrom('options').select('register_psk_encrypted').executeTakeFirstOrThrow();
  return row.register_psk_encrypted;
}

/** The registration rules in the order they are tried. */
export async function listRegistrationRules(db: Db): Promise<RegistrationRule[]> {
  const rows = await db.selectFrom('registration_rules').selectAll().orderBy('position').execute();
  return rows.map(toRule);
}

/** Replaces the rules with `rules`, in order. Use inside a transaction. */
export async function replaceRegistrationRules(db: Db, rules: readonly NewRegistrationRule[]): Promise<void> {
  await db.deleteFrom('registration_rules').execute();
  if (rules.length === 0) return;
  await db
    .insertInto('registration_rules')
    .values(rules.map((rule, position) => ({ position, property: rule.property, pattern: rule.pattern, group_id: rule.groupId })))
    .execute();
}
