/**
 * A run's output: ordered chunks, not a row per line. `seq` numbers a run's chunks 1, 2, 3…;
 * `offset` is where a chunk starts in the run's whole output, in bytes of UTF-8, so a reader can
 * resume from any byte it has seen.
 */
import { sql, type Selectable, type Transaction } from 'kysely';
import type { Db } from './database';
import type { Database, RunOutputTable, RunState } from './schema';

export type OutputStream = RunOutputTable['stream'];

export interface OutputChunk {
  runId: string;
  seq: number;
  stream: OutputStream;
  offset: number;
  data: string;
  createdAt: Date;
}

function toChunk(row: Selectable<RunOutputTable>): OutputChunk {
  return {
    runId: row.run_id,
    seq: row.seq,
    stream: row.stream,
    offset: Number(row.offset),
    data: row.data,
    createdAt: row.created_at,
  };
}

/**
 * Appends chunks after the run's last one, if the run is in one of `states`. Takes a
 * transaction: the run's row is locked first (its byte count bumped), so concurrent appends to
 * one run queue up and never share a seq or an offset, and an append cannot slip in after the
 * run has moved out of `states`. Undefined when the run is not (or no longer) in them.
 */
export async function appendChunks(
  trx: Transaction<Database>,
  runId: string,
  chunks: { stream: OutputStream; data: string }[],
  states: readonly RunState[],
  agentSeq?: number,
): Promise<OutputChunk[] | undefined> {
  const sizes = chunks.map((chunk) => Buffer.byteLength(chunk.data, 'utf8'));
  const total = sizes.reduce((sum, size) => sum + size, 0);
  let update = trx
    .updateTable('runs')
    .set({ output_bytes: sql<string>`output_bytes + ${total}`, updated_at: sql<Date>`now()` })
    .where('id', '=', runId)
    .where('state', 'in', [...states]);
  // An agent's chunk is stored only right after the one before it (see agentOutputSeq).
  if (agentSeq !== undefined) update = update.set({ agent_output_seq: agentSeq }).where('agent_output_seq', '=', agentSeq - 1);
  const run = await update.returning('output_bytes').executeTakeFirst();
  if (!run) return undefined;
  if (chunks.length === 0) return [];
  // Read after the lock, so this sees every chunk a competing append committed before us.
  const last = await trx
    .selectFrom('run_output')
    .select(sql<number>`coalesce(max(seq), 0)`.as('seq'))
    .where('run_id', '=', runId)
    .executeTakeFirstOrThrow();
  let offset = Number(run.output_bytes) - total;
  const rows = chunks.map((chunk, i) => {
    const row = { run_id: runId, seq: Number(last.seq) + i + 1, stream: chunk.stream, offset, data: chunk.data };
    offset += sizes[i]!;
    return row;
  });
  const inserted = await trx.insertInto('run_output').values(rows).returningAll().execute();
  return inserted.map(toChunk).sort((a, b) => a.seq - b.seq);
}

/** The number of the last chunk stored from a run's agent (0: none), or undefined without the run. */
export async function agentOutputSeq(db: Db, runId: string): Promise<number | undefined> {
  const row = await db.selectFrom('runs').select('agent_output_seq').where('id', '=', runId).executeTakeFirst();
  return row?.agent_output_seq;
}

export interface ChunkRange {
  /** Chunks that end after this byte (so the one holding it is included). Default 0. */
  fromOffset?: number;
  /** Only chunks after this seq. Default 0. */
  afterSeq?: number;
  limit: number;
}

/** Stored chunks of a run in order, read along the primary key (run_id, seq). */
export async function listChunks(db: Db, runId: string, range: ChunkRange): Promise<OutputChunk[]> {
  let query = db.selectFrom('run_output').selectAll().where('run_id', '=', runId);
  if (range.afterSeq) query = query.where('seq', '>', range.afterSeq);
  if (range.fromOffset) query = query.where(sql<boolean>`"offset" + octet_length(data) > ${range.fromOffset}`);
  const rows = await query.orderBy('seq').limit(range.limit).execute();
  return rows.map(toChunk);
}
