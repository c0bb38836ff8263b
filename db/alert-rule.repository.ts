/** Alert rules and the channels each sends to. */
import type { Selectable } from 'kysely';
import type { Db } from './database';
import type { AlertRulesTable, SubjectType } from './notification-tables';
import { paginateAs, type Page, type PageArgs } from './pagination';
import { containing } from './like';

export interface AlertRule {
  id: string;
  name: string;
  enabled: boolean;
  /** Null: a global default, for every script and check no enabled rule names. */
  subjectType: SubjectType | null;
  subjectId: string | null;
  onFailure: boolean;
  onRecovery: boolean;
  /** Alert a failure only once this many have come in a row. */
  afterFailures: number;
  onLate: boolean;
  onSlow: boolean;
  /** A run is slow when it takes longer than this many times its script's p95. */
  slowFactor: number;
  /** Remind this often while still failing; null for never. */
  remindEverySeconds: number | null;
  channelIds: string[];
  createdAt: Date;
  updatedAt: Date;
}

export type AlertRuleConfig = Omit<AlertRule, 'id' | 'createdAt' | 'updatedAt'>;

function toRule(row: Selectable<AlertRulesTable>, channelIds: string[]): AlertRule {
  return {
    id: row.id,
    name: row.name,
    enabled: row.enabled,
    subjectType: row.subject_type,
    subjectId: row.subject_id,
    onFailure: row.on_failure,
    onRecovery: row.on_recovery,
    afterFailures: row.after_failures,
    onLate: row.on_late,
    onSlow: row.on_slow,
    slowFactor: row.slow_factor,
    remindEverySeconds: row.remind_every_seconds,
    channelIds,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

async function withChannels(db: Db, rows: Selectable<AlertRulesTable>[]): Promise<AlertRule[]> {
  if (rows.length === 0) return [];
  const links = await db
    .selectFrom('alert_rule_channels')
    .select(['rule_id', 'channel_id'])
    .where('rule_id', 'in', rows.map((r) => r.id))
    .orderBy('channel_id')
    .execute();
  const byRule = new Map<string, string[]>();
  for (const link of links) byRule.set(link.rule_id, [...(byRule.get(link.rule_id) ?? []), link.channel_id]);
  return rows.map((row) => toRule(row, byRule.get(row.id) ?? []));
}

const columns = (rule: AlertRuleConfig) => ({
  name: rule.name,
  enabled: rule.enabled,
  subject_type: rule.subjectType,
  subject_id: rule.subjectId,
  on_failure: rule.onFailure,
  on_recovery: rule.onRecovery,
  after_failures: rule.afterFailures,
  on_late: rule.onLate,
  on_slow: rule.onSlow,
  slow_factor: rule.slowFactor,
  remind_every_seconds: rule.remindEverySeconds,
});

async function setChannels(db: Db, ruleId: string, channelIds: readonly string[]): Promise<void> {
  await db.deleteFrom('alert_rule_channels').where('rule_id', '=', ruleId).execute();
  if (channelIds.length > 0) {
    await db.insertInto('alert_rule_channels').values(channelIds.map((channel_id) => ({ rule_id: ruleId, channel_id }))).execute();
  }
}

export async function insertRule(db: Db, rule: AlertRuleConfig): Promise<AlertRule> {
  const row = await db.insertInto('alert_rules').values(columns(rule)).returningAll().executeTakeFirstOrThrow();
  await setChannels(db, row.id, rule.channelIds);
  return (await withChannels(db, [row]))[0]!;
}

export async function updateRuleRow(db: Db, id: string, rule: AlertRuleConfig): Promise<AlertRule> {
  const row = await db
    .updateTable('alert_rules')
    .set({ ...columns(rule), updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
  await setChannels(db, id, rule.channelIds);
  // A rule whose subject or thresholds changed starts counting afresh.
  await db.deleteFrom('alert_states').where('rule_id', '=', id).execute();
  return (await withChannels(db, [row]))[0]!;
}

export async function lockRule(db: Db, id: string): Promise<AlertRule | undefined> {
  const row = await db.selectFrom('alert_rules').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  return row && (await withChannels(db, [row]))[0];
}

export async function deleteRuleRow(db: Db, id: string): Promise<void> {
  await db.deleteFrom('alert_rules').where('id', '=', id).execute();
}

export async function findRulesByIds(db: Db, ids: readonly string[]): Promise<AlertRule[]> {
  if (ids.length === 0) return [];
  return withChannels(db, await db.selectFrom('alert_rules').selectAll().where('id', 'in', ids).execute());
}

/** Every enabled rule: what the alerter evaluates events against. */
export async function listEnabledRules(db: Db): Promise<AlertRule[]> {
  return withChannels(db, await db.selectFrom('alert_rules').selectAll().where('enabled', '=', true).execute());
}

export async function listRules(db: Db, filter: { search?: string }, args: PageArgs): Promise<Page<AlertRule>> {
  let query = db.selectFrom('alert_rules').selectAll();
  if (filter.search) query = query.where('name', 'ilike', containing(filter.search));
  const page = await paginateAs(query, args, { expression: 'lower(alert_rules.name)', type: 'text', direction: 'asc', id: 'alert_rules.id' }, (row) => row);
  return { ...page, nodes: await withChannels(db, page.nodes) };
}
