/**
 * What maintenance windows and snoozes have in common in GraphQL (both are silences, one table):
 * the fields of their types and the arguments of their lists.
 */
import type { Silence } from '../db/silence.repository';
import { AlertSubjectTypeEnum, subjectGlobalId } from './alert-subject';
import { builder } from './builder';
import { encodeGlobalID } from './ids';

type SchemaTypes = typeof builder extends PothosSchemaTypes.SchemaBuilder<infer T> ? T : never;

export function silenceFields(t: PothosSchemaTypes.ObjectFieldBuilder<SchemaTypes, Silence>) {
  return {
    reason: t.exposeString('reason', { description: 'Why, for people; may be empty.' }),
    startsAt: t.expose('startsAt', { type: 'DateTime', description: 'When it starts silencing.' }),
    endsAt: t.expose('endsAt', { type: 'DateTime', description: 'When it stops (moved to the moment it was ended, if ended early).' }),
    active: t.boolean({ description: 'Whether it is silencing right now.', resolve: (s) => s.startsAt.getTime() <= Date.now() && Date.now() < s.endsAt.getTime() }),
    subjectType: t.field({ type: AlertSubjectTypeEnum, nullable: true, description: 'Only alerts about this kind of subject; null for any.', resolve: (s) => s.subjectType }),
    subjectId: t.id({ nullable: true, description: 'The global id of the script, schedule or check it covers; null for all.', resolve: (s) => subjectGlobalId(s.subjectType, s.subjectId) }),
    ruleId: t.id({ nullable: true, description: 'The global id of the only rule it silences; null for every rule.', resolve: (s) => (s.ruleId ? encodeGlobalID('AlertRule', s.ruleId) : null) }),
    createdBy: t.exposeString('createdBy', { description: 'Who created it.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    endedAt: t.expose('endedAt', { type: 'DateTime', nullable: true, description: 'When it was ended early; null otherwise.' }),
  };
}
