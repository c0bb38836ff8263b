/**
 * Silences (operators): maintenance windows — a time range, for everything or one subject — and
 * snoozes — until a time, for one rule and/or one subject. While one is in force the alerts it
 * covers are recorded as `silenced` deliveries instead of being sent. Creating and ending one is
 * audited.
 */
import { audited, type ChangeDeps } from './audit';
import { NotFoundError, ValidationError, type FieldProblem } from './errors';
import { isUuid } from './ids';
import { findRulesByIds } from '../db/alert-rule.repository';
import { subjectExists } from '../db/alerter.repository';
import type { Db } from '../db/database';
import type { SilenceKind, SubjectType } from '../db/notification-tables';
import { endSilenceRow, insertSilence, lockSilence, type Silence } from '../db/silence.repository';

const MAX_REASON = 1000;
/** Silences longer than this are mistakes (a year written for a day). */
const MAX_SPAN_MS = 366 * 86_400_000;

export interface SilenceInput {
  reason?: string | null;
  /** Maintenance windows: when it starts (now unless given). */
  startsAt?: Date | null;
  endsAt: Date;
  ruleId?: string | null;
  subjectType?: SubjectType | null;
  subjectId?: string | null;
}

const LABEL: Record<SilenceKind, string> = { maintenance: 'maintenance window', snooze: 'snooze' };

function problems(kind: SilenceKind, input: SilenceInput, startsAt: Date): FieldProblem[] {
  const found: FieldProblem[] = [];
  const reason = input.reason ?? '';
  if (reason.length > MAX_REASON) found.push({ path: ['input', 'reason'], message: `The reason is at most ${MAX_REASON} characters.` });
  if (input.endsAt.getTime() <= startsAt.getTime()) found.push({ path: ['input', 'endsAt'], message: `The ${LABEL[kind]} must end after it starts (${startsAt.toISOString()}).` });
  else if (input.endsAt.getTime() - startsAt.getTime() > MAX_SPAN_MS) found.push({ path: ['input', 'endsAt'], message: `A ${LABEL[kind]} lasts at most a year and a day.` });
  if (input.endsAt.getTime() <= Date.now()) found.push({ path: ['input', 'endsAt'], message: `The ${LABEL[kind]} would already be over: give an end in the future.` });
  if ((input.subjectType == null) !== (input.subjectId == null)) {
    found.push({ path: ['input', input.subjectType == null ? 'subjectType' : 'subjectId'], message: 'Give both subjectType and subjectId, or neither.' });
  }
  if (kind === 'snooze' && input.ruleId == null && input.subjectId == null) {
    found.push({ path: ['input', 'ruleId'], message: 'Snooze a rule, a subject, or both (a maintenance window silences everything).' });
  }
  return found;
}

async function checkReferences(trx: Db, input: SilenceInput): Promise<void> {
  if (input.ruleId != null) {
    const [rule] = isUuid(input.ruleId) ? await findRulesByIds(trx, [input.ruleId]) : [];
    if (!rule) throw new NotFoundError(`There is no alert rule with id "${input.ruleId}".`);
  }
  if (input.subjectType && input.subjectId != null) {
    if (!isUuid(input.subjectId) || !(await subjectExists(trx, input.subjectType, input.subjectId))) throw new NotFoundError(`There is no ${input.subjectType} with id "${input.subjectId}".`);
  }
}

function summary(silence: Silence): Record<string, unknown> {
  return {
    reason: silence.reason,
    startsAt: silence.startsAt.toISOString(),
    endsAt: silence.endsAt.toISOString(),
    ruleId: silence.ruleId,
    subjectType: silence.subjectType,
    subjectId: silence.subjectId,
  };
}

const scope = (s: Pick<Silence, 'ruleId' | 'subjectType' | 'subjectId'>) =>
  [s.ruleId ? `rule ${s.ruleId}` : '', s.subjectType ? `${s.subjectType} ${s.subjectId}` : ''].filter(Boolean).join(', ') || 'everything';

export async function createSilence(deps: ChangeDeps, kind: SilenceKind, input: SilenceInput): Promise<Silence> {
  const startsAt = kind === 'snooze' ? new Date() : (input.startsAt ?? new Date());
  const found = problems(kind, input, startsAt);
  if (found.length) throw new ValidationError(found.map((p) => p.message).join(' '), found);
  return audited(deps, async (trx, record) => {
    await checkReferences(trx, input);
    const silence = await insertSilence(trx, {
      kind,
      reason: input.reason?.trim() ?? '',
      startsAt,
      endsAt: input.endsAt,
      ruleId: input.ruleId ?? null,
      subjectType: input.subjectType ?? null,
      subjectId: input.subjectId ?? null,
      createdBy: deps.actor.name,
    });
    record({
      action: kind === 'snooze' ? 'snooze.created' : 'maintenance_window.created',
      objectType: kind === 'snooze' ? 'Snooze' : 'MaintenanceWindow',
      objectId: silence.id,
      objectName: silence.reason || null,
      summary:
        kind === 'snooze'
          ? `Snoozed alerts for ${scope(silence)} until ${silence.endsAt.toISOString()}`
          : `Scheduled a maintenance window for ${scope(silence)}, ${silence.startsAt.toISOString()} to ${silence.endsAt.toISOString()}`,
      details: { after: summary(silence) },
    });
    return silence;
  });
}

export async function endSilence(deps: ChangeDeps, kind: SilenceKind, id: string): Promise<Silence> {
  return audited(deps, async (trx, record) => {
    const before = isUuid(id) ? await lockSilence(trx, id, kind) : undefined;
    if (!before) throw new NotFoundError(`There is no ${LABEL[kind]} with id "${id}".`);
    const silence = before.endsAt.getTime() <= Date.now() ? before : await endSilenceRow(trx, before.id);
    record({
      action: kind === 'snooze' ? 'snooze.ended' : 'maintenance_window.ended',
      objectType: kind === 'snooze' ? 'Snooze' : 'MaintenanceWindow',
      objectId: silence.id,
      objectName: silence.reason || null,
      summary: before === silence ? `The ${LABEL[kind]} for ${scope(silence)} had already ended` : `Ended the ${LABEL[kind]} for ${scope(silence)}`,
      details: { before: summary(before), after: summary(silence) },
    });
    return silence;
  });
}
