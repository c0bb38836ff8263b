/**
 * What an alert rule, a maintenance window or a snooze is about — a script, a schedule or a check
 * — as GraphQL shows and takes it: the type, and the subject's global id.
 */
import { decodeGlobalID } from '@pothos/plugin-relay';
import { ValidationError } from '../core/errors';
import { isUuid } from '../core/ids';
import type { SubjectType } from '../db/notification-tables';
import { builder } from './builder';
import { encodeGlobalID } from './ids';

export const AlertSubjectTypeEnum = builder.enumType('AlertSubjectType', {
  description: 'What an alert rule, maintenance window or snooze is about.',
  values: {
    SCRIPT: { value: 'script', description: 'A script: its runs, whatever started them.' },
    SCHEDULE: { value: 'schedule', description: 'A schedule: the runs it fired.' },
    CHECK: { value: 'check', description: 'A check: its late, down and up flips.' },
  } as const,
});

const TYPENAMES: Record<SubjectType, string> = { script: 'Script', schedule: 'Schedule', check: 'Check' };

/** The global id of a subject, or null for none. */
export function subjectGlobalId(type: SubjectType | null, id: string | null): string | null {
  return type && id ? encodeGlobalID(TYPENAMES[type], id) : null;
}

/**
 * A subject from a global id (its type is in it) or a bare UUID with `subjectType`; both null
 * means none. The type, when given with a global id, must agree with it.
 */
export function decodeSubject(subjectId: string | number | null | undefined, subjectType: SubjectType | null | undefined, field = 'input.subjectId'): { subjectType: SubjectType | null; subjectId: string | null } | undefined {
  if (subjectId === undefined && subjectType === undefined) return undefined;
  if (subjectId === null || subjectId === undefined) {
    if (subjectType) throw new ValidationError('Give subjectId with subjectType.', [{ path: [field], message: 'Give the subject\'s id.' }]);
    return { subjectType: null, subjectId: null };
  }
  const text = String(subjectId);
  if (isUuid(text)) {
    if (!subjectType) throw new ValidationError('With a bare UUID as subjectId, give subjectType too (or pass the global id).', [{ path: ['input', 'subjectType'], message: 'Say what the subject is.' }]);
    return { subjectType, subjectId: text.toLowerCase() };
  }
  let decoded: { typename: string; id: string } | undefined;
  try {
    decoded = decodeGlobalID(text);
  } catch {
    decoded = undefined;
  }
  const type = (Object.keys(TYPENAMES) as SubjectType[]).find((t) => TYPENAMES[t] === decoded?.typename);
  if (!decoded || !type || !isUuid(decoded.id)) {
    throw new ValidationError(`${field}: "${text.slice(0, 80)}" is not the id of a script, schedule or check.`, [{ path: [field], message: 'Not a Script, Schedule or Check id.' }]);
  }
  if (subjectType && subjectType !== type) {
    throw new ValidationError(`${field} is a ${TYPENAMES[type]} id but subjectType says ${TYPENAMES[subjectType]}.`, [{ path: [field], message: 'The id and subjectType disagree.' }]);
  }
  return { subjectType: type, subjectId: decoded.id.toLowerCase() };
}
