/** Scripts: what to run, and the policies for running it; which groups may run it. */
import { sql, type Insertable, type Selectable, type Updateable } from 'kysely';
import type { Db } from './database';
import { toGroup, type Group } from './group.repository';
import { paginateAs, type Page, type PageArgs } from './pagination';
import type { ScriptsTable, StepRow } from './schema';
import { containing } from './like';

export type Step = StepRow;

export interface Script {
  id: string;
  name: string;
  description: string;
  enabled: boolean;
  /** The interpreter or program the body is given to (the body is its script file). */
  executable: string;
  body: string;
  /** When non-empty, these run in order instead of `executable` + `body`. */
  steps: Step[];
  stopOnFirstFailure: boolean;
  workingDir: string | null;
  runAsUid: number | null;
  runAsGid: number | null;
  timeoutSeconds: number | null;
  maxConcurrent: number | null;
  maxConcurrentPerHost: number | null;
  retryCount: number;
  retryDelaySeconds: number;
  retryBackoff: number;
  /** Parameters a run may set, with their defaults. */
  parameters: Record<string, string>;
  afterExecution: string | null;
  jobClass: string | null;
  jobArgs: unknown[];
  listenPoint: string | null;
  webhookProvider: Record<string, unknown> | null;
  configFile: string | null;
  configSource: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export function toScript(row: Selectable<ScriptsTable>): Script {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    enabled: row.enabled,
    executable: row.executable,
    body: row.body,
    steps: row.steps,
    stopOnFirstFailure: row.stop_on_first_failure,
    workingDir: row.working_dir,
    runAsUid: row.run_as_uid,
    runAsGid: row.run_as_gid,
    timeoutSeconds: row.timeout_seconds,
    maxConcurrent: row.max_concurrent,
    maxConcurrentPerHost: row.max_concurrent_per_host,
    retryCount: row.retry_count,
    retryDelaySeconds: row.retry_delay_seconds,
    retryBackoff: row.retry_backoff,
    parameters: row.parameters,
    afterExecution: row.after_execution,
    jobClass: row.job_class,
    jobArgs: row.job_args,
    listenPoint: row.listen_point,
    webhookProvider: row.webhook_provider,
    configFile: row.config_file,
    configSource: row.config_source,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The stored fields of a script (everything but ids and times). */
export type ScriptValues = Omit<Script, 'id' | 'createdAt' | 'updatedAt'>;

/** The columns for the given fields; fields left out are not touched. */
function toColumns(values: Partial<ScriptValues>): Updateable<ScriptsTable> {
  const json = (value: unknown) => (value === undefined ? undefined : JSON.stringify(value));
  const columns: Updateable<ScriptsTable> = {
    name: values.name,
    description: values.description,
    enabled: values.enabled,
    executable: values.executable,
    body: values.body,
    steps: json(values.steps),
    stop_on_first_failure: values.stopOnFirstFailure,
    working_dir: values.workingDir,
    run_as_uid: values.runAsUid,
    run_as_gid: values.runAsGid,
    timeout_seconds: values.timeoutSeconds,
    max_concurrent: values.maxConcurrent,
    max_concurrent_per_host: values.maxConcurrentPerHost,
    retry_count: values.retryCount,
    retry_delay_seconds: values.retryDelaySeconds,
    retry_backoff: values.retryBackoff,
    parameters: json(values.parameters),
    after_execution: values.afterExecution,
    job_class: values.jobClass,
    job_args: json(values.jobArgs),
    listen_point: values.listenPoint,
    webhook_provider: values.webhookProvider === undefined ? undefined : values.webhookProvider && JSON.stringify(values.webhookProvider),
    config_file: values.configFile,
    config_source: values.configSource,
  };
  return Object.fromEntries(Object.entries(columns).filter(([, value]) => value !== undefined));
}

export async function findScriptsByIds(db: Db, ids: readonly string[]): Promise<Script[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('scripts').selectAll().where('id', 'in', ids).execute();
  return rows.map(toScript);
}

/** One script; with `lock`, its row stays locked until the transaction ends. */
export async function findScriptById(db: Db, id: string, options: { lock?: boolean } = {}): Promise<Script | undefined> {
  let query = db.selectFrom('scripts').selectAll().where('id', '=', id);
  if (options.lock) query = query.forUpdate();
  const row = await query.executeTakeFirst();
  return row && toScript(row);
}

/** The script at a listen point (a Sloth CI app), if any. */
export async function findScriptByListenPoint(db: Db, listenPoint: string): Promise<Script | undefined> {
  const row = await db.selectFrom('scripts').selectAll().where('listen_point', '=', listenPoint).executeTakeFirst();
  return row && toScript(row);
}

/** The scripts bound to a config file on the server (Sloth CI apps that `restart` re-reads). */
export async function listBoundScripts(db: Db): Promise<Script[]> {
  const rows = await db.selectFrom('scripts').selectAll().where('config_file', 'is not', null).orderBy('listen_point').execute();
  return rows.map(toScript);
}

/** The script of exactly this name, ignoring case. */
export async function findScriptByName(db: Db, name: string): Promise<Script | undefined> {
  const row = await db.selectFrom('scripts').selectAll().where(sql<boolean>`lower(name) = lower(${name})`).executeTakeFirst();
  return row && toScript(row);
}

export interface ScriptFilter {
  /** Case-insensitive text in the name. */
  search?: string;
  enabled?: boolean;
  /** Exactly this name, ignoring case. */
  name?: string;
  /** Exactly this listen point. */
  listenPoint?: string;
  /** Only scripts with (true) or without (false) a listen point. */
  hasListenPoint?: boolean;
}

/** Scripts by name. */
export async function listScripts(db: Db, filter: ScriptFilter, args: PageArgs): Promise<Page<Script>> {
  let query = db.selectFrom('scripts').selectAll();
  if (filter.search) query = query.where('name', 'ilike', containing(filter.search));
  if (filter.enabled !== undefined) query = query.where('enabled', '=', filter.enabled);
  if (filter.name !== undefined) query = query.where(sql<boolean>`lower(name) = lower(${filter.name})`);
  if (filter.listenPoint !== undefined) query = query.where('listen_point', '=', filter.listenPoint);
  if (filter.hasListenPoint !== undefined) query = query.where('listen_point', filter.hasListenPoint ? 'is not' : 'is', null);
  return paginateAs(query, args, { expression: 'lower(scripts.name)', type: 'text', direction: 'asc', id: 'scripts.id' }, toScript);
}

/** Inserts a script; throws PostgreSQL's unique violation (23505) on a taken name or listen point. */
export async function insertScript(db: Db, values: ScriptValues): Promise<Script> {
  const row = await db
    .insertInto('scripts')
    .values(toColumns(values) as Insertable<ScriptsTable>)
    .returningAll()
    .executeTakeFirstOrThrow();
  return toScript(row);
}

export async function updateScriptRow(db: Db, id: string, values: Partial<ScriptValues>): Promise<Script | undefined> {
  const row = await db
    .updateTable('scripts')
    .set({ ...toColumns(values), updated_at: sql`now()` })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirst();
  return row && toScript(row);
}

/** Deletes a script; its schedules, links and variables go with it (ON DELETE CASCADE). */
export async function deleteScriptRow(db: Db, id: string): Promise<boolean> {
  const result = await db.deleteFrom('scripts').where('id', '=', id).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/** The names of a script's schedules (they are deleted with it). */
export async function scheduleNamesOfScript(db: Db, id: string): Promise<string[]> {
  const rows = await db.selectFrom('schedules').select('name').where('script_id', '=', id).orderBy('name').execute();
  return rows.map((row) => row.name);
}

/** A script's attachment ids, in order. */
export async function attachmentIdsOfScript(db: Db, id: string): Promise<string[]> {
  const rows = await db
    .selectFrom('script_attachments')
    .select('attachment_id')
    .where('script_id', '=', id)
    .orderBy('position')
    .execute();
  return rows.map((row) => row.attachment_id);
}

/** Replaces a script's attachments with `attachmentIds`, in order. Use inside a transaction. */
export async function setScriptAttachments(db: Db, id: string, attachmentIds: readonly string[]): Promise<void> {
  await db.deleteFrom('script_attachments').where('script_id', '=', id).execute();
  if (attachmentIds.length === 0) return;
  await db
    .insertInto('script_attachments')
    .values(attachmentIds.map((attachmentId, position) => ({ script_id: id, attachment_id: attachmentId, position })))
    .execute();
}

/** The ids of the groups that may run a script, by group name. */
export async function groupIdsOfScript(db: Db, id: string): Promise<string[]> {
  return (await groupsOfScripts(db, [id]))[0]!.map((group) => group.id);
}

/** Replaces the groups that may run a script. Use inside a transaction. */
export async function setScriptGroupRows(db: Db, id: string, groupIds: readonly string[]): Promise<void> {
  await db.deleteFrom('group_scripts').where('script_id', '=', id).execute();
  if (groupIds.length === 0) return;
  await db
    .insertInto('group_scripts')
    .values(groupIds.map((groupId) => ({ script_id: id, group_id: groupId })))
    .execute();
}

/** For a DataLoader: the groups of each script, by name, in the order of `ids`. */
export async function groupsOfScripts(db: Db, ids: readonly string[]): Promise<Group[][]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('group_scripts')
    .innerJoin('groups', 'groups.id', 'group_scripts.group_id')
    .selectAll('groups')
    .select('group_scripts.script_id')
    .where('group_scripts.script_id', 'in', ids)
    .orderBy(sql`lower(groups.name)`)
    .execute();
  return ids.map((id) => rows.filter((row) => row.script_id === id).map(toGroup));
}

/** For a DataLoader: the scripts that use each attachment, by name, in the order of `ids`. */
export async function scriptsOfAttachments(db: Db, ids: readonly string[]): Promise<Script[][]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('script_attachments')
    .innerJoin('scripts', 'scripts.id', 'script_attachments.script_id')
    .selectAll('scripts')
    .select('script_attachments.attachment_id')
    .where('script_attachments.attachment_id', 'in', ids)
    .orderBy(sql`lower(scripts.name)`)
    .execute();
  return ids.map((id) => rows.filter((row) => row.attachment_id === id).map(toScript));
}
