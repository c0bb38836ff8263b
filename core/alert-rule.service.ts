/**
 * Alert rules (admins): which events alert, about what, through which channels. A rule names a
 * script, a schedule or a check, or nothing (a global default: see core/alert-evaluation.ts).
 * Changing a rule resets what it has counted (consecutive failures, an open alert).
 */
import { audited, diff, type ChangeDeps } from './audit';
import { ConflictError, NotFoundError, ValidationError, type FieldProblem } from './errors';
import { isUuid } from './ids';
import { deleteRuleRow, insertRule, lockRule, updateRuleRow, type AlertRule, type AlertRuleConfig } from '../db/alert-rule.repository';
import { subjectExists } from '../db/alerter.repository';
import type { Db } from '../db/database';
import { findChannelsByIds } from '../db/notification-channel.repository';
import type { SubjectType } from '../db/notification-tables';
import { FOREIGN_KEY_VIOLATION, pgError, UNIQUE_VIOLATION } from '../db/postgres-error';

export const MAX_NAME = 140;
export const DEFAULT_SLOW_FACTOR = 2;
const MAX_REMIND_SECONDS = 366 * 86_400;
const MIN_REMIND_SECONDS = 60;

export interface AlertRuleInput {
  name?: string | null;
  enabled?: boolean | null;
  /** Both given names the subject; both null makes the rule global. */
  subjectType?: SubjectType | null;
  subjectId?: string | null;
  onFailure?: boolean | null;
  onRecovery?: boolean | null;
  afterFailures?: number | null;
  onLate?: boolean | null;
  onSlow?: boolean | null;
  slowFactor?: number | null;
  /** Null clears it (no reminders); omitted keeps it. */
  remindEverySeconds?: number | null;
  channelIds?: readonly string[] | null;
}

const at = (field: string) => ['input', field];

function fail(problems: FieldProblem[]): void {
  if (problems.length > 0) throw new ValidationError(problems.map((p) => p.message).join(' '), problems);
}

function resolveConfig(input: AlertRuleInput, base: AlertRuleConfig): AlertRuleConfig {
  const subjectGiven = input.subjectType !== undefined || input.subjectId !== undefined;
  const config: AlertRuleConfig = {
    name: input.name?.trim() ?? base.name,
    enabled: input.enabled ?? base.enabled,
    subjectType: subjectGiven ? (input.subjectType ?? null) : base.subjectType,
    subjectId: subjectGiven ? (input.subjectId ?? null) : base.subjectId,
    onFailure: input.onFailure ?? base.onFailure,
    onRecovery: input.onRecovery ?? base.onRecovery,
    afterFailures: input.afterFailures ?? base.afterFailures,
    onLate: input.onLate ?? base.onLate,
    onSlow: input.onSlow ?? base.onSlow,
    slowFactor: input.slowFactor ?? base.slowFactor,
    remindEverySeconds: input.remindEverySeconds === undefined ? base.remindEverySeconds : input.remindEverySeconds,
    channelIds: input.channelIds ? [...new Set(input.channelIds)] : base.channelIds,
  };
  const problems: FieldProblem[] = [];
  if (!config.name) problems.push({ path: at('name'), message: 'Give the rule a name.' });
  else if (config.name.length > MAX_NAME) problems.push({ path: at('name'), message: `The name is at most ${MAX_NAME} characters.` });
  if ((config.subjectType === null) !== (config.subjectId === null)) {
    problems.push({ path: at(config.subjectType === null ? 'subjectType' : 'subjectId'), message: 'Give both subjectType and subjectId, or neither for a rule that applies to everything.' });
  }
  if (!Number.isInteger(config.afterFailures) || config.afterFailures < 1 || config.afterFailures > 1000) {
    problems.push({ path: at('afterFailures'), message: 'afterFailures is a whole number from 1 to 1000 (1: alert on the first failure).' });
  }
  if (!Number.isFinite(config.slowFactor) || config.slowFactor < 1 || config.slowFactor > 1000) {
    problems.push({ path: at('slowFactor'), message: 'slowFactor is a number from 1 to 1000: a run is slow above that many times its usual (p95) duration.' });
  }
  const remind = config.remindEverySeconds;
  if (remind !== null && (!Number.isInteger(remind) || remind < MIN_REMIND_SECONDS || remind > MAX_REMIND_SECONDS)) {
    problems.push({ path: at('remindEverySeconds'), message: `remindEverySeconds is a whole number from ${MIN_REMIND_SECONDS} to ${MAX_REMIND_SECONDS}, or null for no reminders.` });
  }
  if (!config.onFailure && !config.onRecovery && !config.onLate && !config.onSlow) {
    problems.push({ path: at('onFailure'), message: 'The rule alerts on nothing: turn on at least one of onFailure, onRecovery, onLate or onSlow.' });
  }
  if (config.subjectType !== 'check' && config.onLate && config.subjectType !== null) {
    problems.push({ path: at('onLate'), message: 'onLate is about check-ins: it needs a check (or no subject).' });
  }
  fail(problems);
  return config;
}

async function checkReferences(trx: Db, config: AlertRuleConfig): Promise<void> {
  if (config.subjectType && config.subjectId) {
    if (!isUuid(config.subjectId) || !(await subjectExists(trx, config.subjectType, config.subjectId))) throw new NotFoundError(`There is no ${config.subjectType} with id "${config.subjectId}" (the rule's subject).`);
  }
  const channels = await findChannelsByIds(trx, config.channelIds.filter(isUuid));
  const missing = config.channelIds.find((id) => !channels.some((c) => c.id === id));
  if (missing) throw new NotFoundError(`There is no notification channel with id "${missing}".`);
}

function summary(rule: AlertRuleConfig): Record<string, unknown> {
  const { channelIds, ...rest } = rule;
  return { ...rest, channelIds: [...channelIds].sort() };
}

async function guarded<T>(name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const { code, constraint } = pgError(error);
    if (code === UNIQUE_VIOLATION && constraint === 'alert_rules_name_key') throw new ConflictError(`A rule named "${name}" already exists.`);
    // A channel deleted between the check and the write.
    if (code === FOREIGN_KEY_VIOLATION) throw new NotFoundError('A channel of the rule was deleted meanwhile: reload the channels and try again.');
    throw error;
  }
}

const DEFAULTS: AlertRuleConfig = {
  name: '',
  enabled: true,
  subjectType: null,
  subjectId: null,
  onFailure: true,
  onRecovery: true,
  afterFailures: 1,
  onLate: false,
  onSlow: false,
  slowFactor: DEFAULT_SLOW_FACTOR,
  remindEverySeconds: null,
  channelIds: [],
};

export async function createRule(deps: ChangeDeps, input: AlertRuleInput & { name: string }): Promise<AlertRule> {
  const config = resolveConfig(input, DEFAULTS);
  return guarded(config.name, () =>
    audited(deps, async (trx, record) => {
      await checkReferences(trx, config);
      const rule = await insertRule(trx, config);
      record({
        action: 'alert_rule.created',
        objectType: 'AlertRule',
        objectId: rule.id,
        objectName: rule.name,
        summary: `Created alert rule "${rule.name}"`,
        details: { after: summary(rule) },
      });
      return rule;
    }),
  );
}

async function existing(trx: Db, id: string): Promise<AlertRule> {
  const rule = isUuid(id) ? await lockRule(trx, id) : undefined;
  if (!rule) throw new NotFoundError(`There is no alert rule with id "${id}".`);
  return rule;
}

export async function updateRule(deps: ChangeDeps, id: string, input: AlertRuleInput): Promise<AlertRule> {
  return guarded(input.name?.trim() || '(the new name)', () =>
    audited(deps, async (trx, record) => {
      const before = await existing(trx, id);
      const config = resolveConfig(input, before);
      await checkReferences(trx, config);
      const rule = await updateRuleRow(trx, before.id, config);
      const changes = diff(summary(before), summary(rule));
      record({
        action: 'alert_rule.updated',
        objectType: 'AlertRule',
        objectId: rule.id,
        objectName: rule.name,
        summary: `Updated alert rule "${rule.name}": ${Object.keys(changes.after).join(', ') || 'nothing changed'}`,
        details: changes,
      });
      return rule;
    }),
  );
}

export async function deleteRule(deps: ChangeDeps, id: string): Promise<AlertRule> {
  return audited(deps, async (trx, record) => {
    const rule = await existing(trx, id);
    await deleteRuleRow(trx, rule.id);
    record({
      action: 'alert_rule.deleted',
      objectType: 'AlertRule',
      objectId: rule.id,
      objectName: rule.name,
      summary: `Deleted alert rule "${rule.name}"`,
      details: { before: summary(rule) },
    });
    return rule;
  });
}
