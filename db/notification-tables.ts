/**
 * Table types of alerts and notifications (migration 20261204T0003), added to `Database` by
 * declaration merging so the notification tables live beside their repositories.
 */
import type { ColumnType, Generated } from 'kysely';

type DefaultTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T> = ColumnType<T, string | undefined, string>;

export type ChannelKind = 'webhook' | 'email' | 'command';
export type SubjectType = 'script' | 'schedule' | 'check';
export type AlertKind = 'failure' | 'recovery' | 'late' | 'slow' | 'reminder' | 'test';
export type DeliveryState = 'pending' | 'delivered' | 'failed' | 'silenced';
export type SilenceKind = 'maintenance' | 'snooze';

export interface NotificationChannelsTable {
  id: Generated<string>;
  name: string;
  kind: ChannelKind;
  enabled: Generated<boolean>;
  settings: Json<Record<string, unknown>>;
  secrets_sealed: Buffer | null;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface AlertRulesTable {
  id: Generated<string>;
  name: string;
  enabled: Generated<boolean>;
  subject_type: SubjectType | null;
  subject_id: string | null;
  on_failure: Generated<boolean>;
  on_recovery: Generated<boolean>;
  after_failures: Generated<number>;
  on_late: Generated<boolean>;
  on_slow: Generated<boolean>;
  slow_factor: Generated<number>;
  remind_every_seconds: number | null;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface AlertRuleChannelsTable {
  rule_id: string;
  channel_id: string;
}

export interface SilencesTable {
  id: Generated<string>;
  kind: SilenceKind;
  reason: Generated<string>;
  starts_at: ColumnType<Date, Date | string, Date | string>;
  ends_at: ColumnType<Date, Date | string, Date | string>;
  rule_id: string | null;
  subject_type: SubjectType | null;
  subject_id: string | null;
  created_by: string;
  created_at: DefaultTimestamp;
  ended_at: NullableTimestamp;
}

export interface AlertStatesTable {
  rule_id: string;
  subject_type: SubjectType;
  subject_id: string;
  subject_name: string;
  consecutive_failures: Generated<number>;
  alerting: 'late' | 'failure' | null;
  alert_event_id: string | null;
  alert_payload: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  last_notified_at: NullableTimestamp;
  reminders_sent: Generated<number>;
  updated_at: DefaultTimestamp;
}

export interface AlerterCursorTable {
  id: Generated<boolean>;
  txid: string;
  seq: ColumnType<string, string | number, string | number>;
  updated_at: DefaultTimestamp;
}

export interface AlertDeliveriesTable {
  id: Generated<string>;
  rule_id: string | null;
  rule_name: string | null;
  channel_id: string | null;
  channel_name: string;
  event_id: string | null;
  reminder: Generated<number>;
  kind: AlertKind;
  subject_type: SubjectType | null;
  subject_id: string | null;
  subject_name: string | null;
  text: string;
  payload: Json<Record<string, unknown>>;
  state: Generated<DeliveryState>;
  silenced_by: string | null;
  attempts: Generated<number>;
  last_error: string | null;
  next_attempt_at: DefaultTimestamp;
  created_at: DefaultTimestamp;
  seq: Generated<string>;
  last_attempt_at: NullableTimestamp;
  delivered_at: NullableTimestamp;
  updated_at: DefaultTimestamp;
}

declare module './schema' {
  interface Database {
    notification_channels: NotificationChannelsTable;
    alert_rules: AlertRulesTable;
    alert_rule_channels: AlertRuleChannelsTable;
    silences: SilencesTable;
    alert_states: AlertStatesTable;
    alerter_cursor: AlerterCursorTable;
    alert_deliveries: AlertDeliveriesTable;
  }
}
