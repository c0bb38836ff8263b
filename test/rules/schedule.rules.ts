import { randomUUID } from 'node:crypto';
import { gid } from './core.rules';
import type { Rules } from './rule';

/** Root fields of the schedule domain and the least role each needs. */
export const rules: Rules = {
  'Query.schedules': { minimum: 'viewer', operation: `{ schedules(first: 1) { edges { node { id } } } }` },
  'Query.schedule': { minimum: 'viewer', operation: `{ schedule(id: "${randomUUID()}") { id } }` },
  'Query.previewSchedule': { minimum: 'viewer', operation: `{ previewSchedule(cron: "0 9 * * *") { valid } }` },
  // Unknown scripts and schedules: each answers with a typed NotFoundError, changing nothing.
  'Mutation.createSchedule': {
    minimum: 'admin',
    operation: `mutation { createSchedule(input: { name: "r-${randomUUID()}", scriptId: "${gid('Script')}", when: { kind: INTERVAL, intervalSeconds: 60 } }) { __typename } }`,
  },
  'Mutation.updateSchedule': { minimum: 'admin', operation: `mutation { updateSchedule(input: { id: "${gid('Schedule')}" }) { __typename } }` },
  'Mutation.deleteSchedule': { minimum: 'admin', operation: `mutation { deleteSchedule(id: "${gid('Schedule')}") { __typename } }` },
  'Mutation.pauseSchedule': { minimum: 'operator', operation: `mutation { pauseSchedule(id: "${gid('Schedule')}") { __typename } }` },
  'Mutation.resumeSchedule': { minimum: 'operator', operation: `mutation { resumeSchedule(id: "${gid('Schedule')}") { __typename } }` },
  'Mutation.createJob': {
    minimum: 'admin',
    operation: `mutation { createJob(input: { name: "", jobClass: "noop", when: { kind: INTERVAL, intervalSeconds: 60 } }) { __typename } }`,
  },
  'Mutation.updateJob': { minimum: 'admin', operation: `mutation { updateJob(input: { id: "${gid('Schedule')}" }) { __typename } }` },
  'Mutation.deleteJob': { minimum: 'admin', operation: `mutation { deleteJob(id: "${gid('Schedule')}") { __typename } }` },
  'Subscription.scheduleUpdated': { minimum: 'viewer', operation: `subscription { scheduleUpdated { kind } }` },
};
