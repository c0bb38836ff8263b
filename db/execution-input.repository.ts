/**
 * Everything the executor needs to know about a batch of claimed runs — their scripts, the hosts'
 * groups, the scripts' attachments with their bytes, the environment variables (secrets still
 * sealed) and the server URL — read in one statement (the function `runboard_execution_input`,
 * migration 20261123T0004), so that preparing a run costs one round trip whatever the batch. Only
 * the executor may call this: it returns sealed secrets.
 */
import { sql } from 'kysely';
import type { Db } from './database';
import type { ExecutionEnvVar } from './env-var.repository';
import { toScript, type Script } from './script.repository';

export interface AttachmentFile {
  path: string;
  mode: number;
  uid: number | null;
  gid: number | null;
  content: Buffer;
}

export interface ExecutionInput {
  scripts: Script[];
  /** Host id → its groups' ids, by group name. */
  groupsOfHost: Map<string, string[]>;
  /** Script id → its attachments, in the script's order. */
  attachmentsOfScript: Map<string, AttachmentFile[]>;
  vars: ExecutionEnvVar[];
  serverUrl: string | null;
}

interface Row {
  scripts: Array<Record<string, unknown>>;
  groups: Array<{ host_id: string; group_id: string }>;
  attachments: Array<{ script_id: string; path: string; mode: number; uid: number | null; gid: number | null; content: string }>;
  vars: Array<{ key: string; value: string | null; sealed: string | null; script_id: string | null; group_id: string | null; host_id: string | null }>;
  server_url: string | null;
}

export async function loadExecutionInput(db: Db, scriptIds: readonly string[], hostIds: readonly string[]): Promise<ExecutionInput> {
  const scripts = sql.val([...scriptIds]);
  const hosts = sql.val([...hostIds]);
  const { rows } = await sql<Row>`
    select script_rows as scripts, group_rows as groups, attachment_rows as attachments, var_rows as vars, url as server_url
    from runboard_execution_input(${scripts}::uuid[], ${hosts}::uuid[])`.execute(db);
  const row = rows[0]!;
  const groupsOfHost = new Map<string, string[]>();
  for (const g of row.groups) groupsOfHost.set(g.host_id, [...(groupsOfHost.get(g.host_id) ?? []), g.group_id]);
  const attachmentsOfScript = new Map<string, AttachmentFile[]>();
  for (const a of row.attachments) {
    const file = { path: a.path, mode: a.mode, uid: a.uid, gid: a.gid, content: Buffer.from(a.content, 'base64') };
    attachmentsOfScript.set(a.script_id, [...(attachmentsOfScript.get(a.script_id) ?? []), file]);
  }
  return {
    // JSON carries times as text; the rest of a script's columns come through as they are.
    scripts: row.scripts.map((s) => toScript({ ...s, created_at: new Date(s.created_at as string), updated_at: new Date(s.updated_at as string) } as never)),
    groupsOfHost,
    attachmentsOfScript,
    vars: row.vars.map((v) => ({
      owner: v.script_id
        ? { kind: 'script', id: v.script_id }
        : v.group_id
          ? { kind: 'group', id: v.group_id }
          : v.host_id
            ? { kind: 'host', id: v.host_id }
            : { kind: 'global' },
      key: v.key,
      value: v.value,
      sealed: v.sealed === null ? null : Buffer.from(v.sealed, 'base64'),
    })),
    serverUrl: row.server_url,
  };
}
