import { gid } from './core.rules';
import type { Rules } from './rule';

/** Root fields of alerts and notifications and the least role each needs. */
export const rules: Rules = {
  'Query.notificationChannels': { minimum: 'viewer', operation: `{ notificationChannels(first: 1) { edges { node { id } } } }` },
  'Query.alertRules': { minimum: 'viewer', operation: `{ alertRules(first: 1) { edges { node { id } } } }` },
  'Query.deliveries': { minimum: 'viewer', operation: `{ deliveries(first: 1) { edges { node { id } } } }` },
  'Query.maintenanceWindows': { minimum: 'viewer', operation: `{ maintenanceWindows(first: 1) { edges { node { id } } } }` },
  'Query.snoozes': { minimum: 'viewer', operation: `{ snoozes(first: 1) { edges { node { id } } } }` },
  'Mutation.createNotificationChannel': {
    minimum: 'admin',
    operation: `mutation { createNotificationChannel(input: { name: "" }) { __typename } }`,
  },
  'Mutation.updateNotificationChannel': {
    minimum: 'admin',
    operation: `mutation { updateNotificationChannel(input: { id: "${gid('NotificationChannel')}" }) { __typename } }`,
  },
  'Mutation.deleteNotificationChannel': { minimum: 'admin', operation: `mutation { deleteNotificationChannel(id: "${gid('NotificationChannel')}") { __typename } }` },
  'Mutation.testChannel': { minimum: 'admin', operation: `mutation { testChannel(id: "${gid('NotificationChannel')}") { __typename } }` },
  'Mutation.createAlertRule': { minimum: 'admin', operation: `mutation { createAlertRule(input: { name: "" }) { __typename } }` },
  'Mutation.updateAlertRule': { minimum: 'admin', operation: `mutation { updateAlertRule(input: { id: "${gid('AlertRule')}" }) { __typename } }` },
  'Mutation.deleteAlertRule': { minimum: 'admin', operation: `mutation { deleteAlertRule(id: "${gid('AlertRule')}") { __typename } }` },
  'Mutation.createMaintenanceWindow': {
    minimum: 'operator',
    operation: `mutation { createMaintenanceWindow(input: { endsAt: "2000-01-01T00:00:00Z" }) { __typename } }`,
  },
  'Mutation.endMaintenanceWindow': { minimum: 'operator', operation: `mutation { endMaintenanceWindow(id: "${gid('MaintenanceWindow')}") { __typename } }` },
  'Mutation.snooze': { minimum: 'operator', operation: `mutation { snooze(input: { until: "2000-01-01T00:00:00Z" }) { __typename } }` },
  'Mutation.endSnooze': { minimum: 'operator', operation: `mutation { endSnooze(id: "${gid('Snooze')}") { __typename } }` },
};
