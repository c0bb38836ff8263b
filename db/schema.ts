/** Table types for Kysely. Repositories turn these rows into domain objects. */
import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type DefaultTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;

export interface UsersTable {
  id: Generated<string>;
  username: string;
  email: string | null;
  password_hash: string | null;
  role: 'admin' | 'operator' | 'viewer';
  enabled: Generated<boolean>;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface SessionsTable {
  id: string;
  user_id: string;
  expires_at: Timestamp;
  created_at: DefaultTimestamp;
  ip: string | null;
  user_agent: string | null;
}

export interface ApiKeysTable {
  id: Generated<string>;
  user_id: string;
  name: string;
  prefix: string;
  secret_hash: Buffer;
  role_ceiling: 'admin' | 'operator' | 'viewer';
  expires_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  last_used_at: NullableTimestamp;
  created_at: DefaultTimestamp;
}

/** A VirtShell access key: the secret is sealed (SecretBox), since verifying a signature needs it (migration 20261204T1900). */
export interface AccessKeysTable {
  id: Generated<string>;
  user_id: string;
  name: string;
  key_id: string;
  secret_sealed: Buffer;
  role_ceiling: 'admin' | 'operator' | 'viewer';
  revoked_at: NullableTimestamp;
  last_used_at: NullableTimestamp;
  created_at: DefaultTimestamp;
}

type Json<T> = ColumnType<T, string | undefined, string>;
type Int = ColumnType<number, number | undefined, number>;
type BigIntCol = ColumnType<string, number | string | undefined, number | string>;

export interface HostsTable {
  id: Generated<string>;
  name: string;
  kind: Generated<'local' | 'agent'>;
  description: Generated<string>;
  address: string | null;
  port: number | null;
  enabled: Generated<boolean>;
  agent_key_prefix: string | null;
  agent_key_hash: Buffer | null;
  agent_key_created_at: NullableTimestamp;
  hostname: string | null;
  os: string | null;
  agent_version: string | null;
  online: Generated<boolean>;
  last_seen_at: NullableTimestamp;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface GroupsTable {
  id: Generated<string>;
  name: string;
  description: Generated<string>;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface GroupHostsTable {
  group_id: string;
  host_id: string;
  created_at: DefaultTimestamp;
}

export interface GroupScriptsTable {
  group_id: string;
  script_id: string;
  created_at: DefaultTimestamp;
}

/** One step of a multi-step script, as stored in `scripts.steps`. */
export interface StepRow {
  name: string | null;
  executable: string;
  args: string[];
  body: string | null;
  /** The executable is a command-line template formatted with the run's parameters (absent: false). */
  template?: boolean;
}

export interface ScriptsTable {
  id: Generated<string>;
  name: string;
  description: Generated<string>;
  enabled: Generated<boolean>;
  executable: Generated<string>;
  body: Generated<string>;
  steps: Json<StepRow[]>;
  stop_on_first_failure: Generated<boolean>;
  working_dir: string | null;
  run_as_uid: number | null;
  run_as_gid: number | null;
  timeout_seconds: number | null;
  max_concurrent: number | null;
  max_concurrent_per_host: number | null;
  retry_count: Int;
  retry_delay_seconds: Int;
  retry_backoff: Int;
  parameters: Json<Record<string, string>>;
  after_execution: string | null;
  job_class: string | null;
  job_args: Json<unknown[]>;
  listen_point: string | null;
  webhook_provider: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>;
  config_file: string | null;
  config_source: string | null;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface AttachmentsTable {
  id: Generated<string>;
  name: string;
  path: string;
  mime_type: Generated<string>;
  mode: Int;
  uid: number | null;
  gid: number | null;
  size: number;
  sha256: Buffer;
  content: Buffer;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface ScriptAttachmentsTable {
  script_id: string;
  attachment_id: string;
  position: Int;
}

export interface EnvVarsTable {
  id: Generated<string>;
  script_id: string | null;
  group_id: string | null;
  host_id: string | null;
  key: string;
  value: string | null;
  secret: Generated<boolean>;
  value_encrypted: Buffer | null;
  position: Int;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export type ScheduleKind = 'cron' | 'interval' | 'once';
export type TargetMode = 'one' | 'all';
export type TargetStrategy = 'random' | 'round_robin' | 'least_busy';
export type MissedPolicy = 'none' | 'last' | 'all';
export type OverlapPolicy = 'allow' | 'skip' | 'queue' | 'cancel_previous';

export interface SchedulesTable {
  id: Generated<string>;
  name: string;
  description: Generated<string>;
  script_id: string;
  kind: ScheduleKind;
  cron: string | null;
  timezone: Generated<string>;
  interval_seconds: number | null;
  run_at: NullableTimestamp;
  target_mode: Generated<TargetMode>;
  target_strategy: Generated<TargetStrategy>;
  stagger_seconds: Int;
  enabled: Generated<boolean>;
  missed_policy: Generated<MissedPolicy>;
  missed_window_seconds: Int;
  overlap_policy: Generated<OverlapPolicy>;
  parameters: Json<Record<string, string>>;
  last_run_at: NullableTimestamp;
  next_run_at: NullableTimestamp;
  round_robin_next: Int;
  owns_script: Generated<boolean>;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface ScheduleHostsTable {
  schedule_id: string;
  host_id: string;
}

export interface ScheduleGroupsTable {
  schedule_id: string;
  group_id: string;
}

export interface ScheduleOccurrencesTable {
  id: Generated<string>;
  schedule_id: string;
  scheduled_for: Timestamp;
  created_at: DefaultTimestamp;
}

export type CheckState = 'new' | 'up' | 'late' | 'down' | 'paused';
export type PingKind = 'success' | 'fail' | 'start' | 'log' | 'exit';

export interface ChecksTable {
  id: Generated<string>;
  number: Generated<number>;
  ping_key: Generated<string>;
  name: string;
  server: Generated<string>;
  description: Generated<string>;
  kind: Generated<'period' | 'cron'>;
  period_seconds: number | null;
  cron: string | null;
  timezone: Generated<string>;
  grace_seconds: Int;
  state: Generated<CheckState>;
  last_ping_at: NullableTimestamp;
  last_ping_kind: PingKind | null;
  last_success: boolean | null;
  last_start_at: NullableTimestamp;
  last_duration_ms: number | null;
  next_due_at: NullableTimestamp;
  /** When it goes late: its expected time, while it is up and not in a run; null otherwise. */
  late_at: NullableTimestamp;
  created_at: DefaultTimestamp;
  updated_at: DefaultTimestamp;
}

export interface PingsTable {
  id: Generated<string>;
  check_id: string;
  kind: PingKind;
  exit_code: number | null;
  body: string | null;
  body_truncated: Generated<boolean>;
  run_key: string | null;
  duration_ms: number | null;
  source: Generated<string>;
  remote_addr: string | null;
  user_agent: string | null;
  received_at: DefaultTimestamp;
}

export type RunState = 'queued' | 'dispatched' | 'running' | 'succeeded' | 'failed' | 'timed_out' | 'cancelled' | 'lost' | 'skipped';
export type RunTrigger = 'schedule' | 'manual' | 'api' | 'webhook' | 'report' | 'retry';

export interface RunsTable {
  id: Generated<string>;
  script_id: string | null;
  script_name: string;
  host_id: string | null;
  host_name: string | null;
  schedule_id: string | null;
  occurrence_id: string | null;
  check_id: string | null;
  retry_of: string | null;
  attempt: Int;
  state: Generated<RunState>;
  trigger: RunTrigger;
  triggered_by_user_id: string | null;
  triggered_by: string | null;
  parameters: Json<Record<string, string>>;
  exit_code: number | null;
  summary: string | null;
  pid: number | null;
  output_bytes: BigIntCol;
  output_truncated: Generated<boolean>;
  external: Json<Record<string, unknown>>;
  scheduled_for: NullableTimestamp;
  created_at: DefaultTimestamp;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
  updated_at: DefaultTimestamp;
  instance_id: string | null;
  not_before: NullableTimestamp;
  queue_position: Generated<string>;
  result: ColumnType<unknown, string | null | undefined, string | null>;
  dispatched_at: NullableTimestamp;
  /** The last output chunk number stored from the run's agent (0: none; migration 20261204T0004). */
  agent_output_seq: Generated<number>;
  /** The outside tool that reported it (`virtshell`); null for Runboard's own runs (migration 20261204T1900). */
  reporter: string | null;
}

/** A running Runboard process. */
export interface InstancesTable {
  id: Generated<string>;
  hostname: string;
  pid: number;
  version: string;
  started_at: DefaultTimestamp;
  heartbeat_at: DefaultTimestamp;
  stopped_at: NullableTimestamp;
}

export interface RunOutputTable {
  run_id: string;
  seq: number;
  stream: 'stdout' | 'stderr' | 'system';
  offset: BigIntCol;
  data: string;
  created_at: DefaultTimestamp;
}

export type ActorKind = 'user' | 'api_key' | 'host' | 'system' | 'anonymous';

export interface EventsTable {
  id: Generated<string>;
  at: DefaultTimestamp;
  action: string;
  actor_kind: ActorKind;
  actor_id: string | null;
  actor_name: string;
  object_type: string | null;
  object_id: string | null;
  object_name: string | null;
  summary: string;
  details: Json<Record<string, unknown>>;
  ip: string | null;
}

export interface OptionsTable {
  id: Generated<boolean>;
  server_url: string | null;
  force_ip_version: number | null;
  network_timeout_seconds: Int;
  heartbeat_seconds: Int;
  host_offline_after_seconds: Int;
  register_enabled: Generated<boolean>;
  register_psk_encrypted: Buffer | null;
  register_default_group_id: string | null;
  include_psk_env: Generated<boolean>;
  anonymous_checkin_networks: ColumnType<string[], string[] | undefined, string[]>;
  updated_at: DefaultTimestamp;
}

export interface RegistrationRulesTable {
  id: Generated<string>;
  position: number;
  property: 'uname' | 'hostname';
  pattern: string;
  group_id: string;
}

export interface Database {
  users: UsersTable;
  sessions: SessionsTable;
  api_keys: ApiKeysTable;
  access_keys: AccessKeysTable;
  hosts: HostsTable;
  groups: GroupsTable;
  group_hosts: GroupHostsTable;
  group_scripts: GroupScriptsTable;
  scripts: ScriptsTable;
  attachments: AttachmentsTable;
  script_attachments: ScriptAttachmentsTable;
  env_vars: EnvVarsTable;
  schedules: SchedulesTable;
  schedule_hosts: ScheduleHostsTable;
  schedule_groups: ScheduleGroupsTable;
  schedule_occurrences: ScheduleOccurrencesTable;
  checks: ChecksTable;
  pings: PingsTable;
  runs: RunsTable;
  instances: InstancesTable;
  run_output: RunOutputTable;
  events: EventsTable;
  options: OptionsTable;
  registration_rules: RegistrationRulesTable;
}
