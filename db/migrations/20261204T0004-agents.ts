import type { Kysely } from 'kysely';

// Frozen: migrations never import application code.

/**
 * Agents: a run executed by an agent carries the number of the last output chunk the server
 * stored for it. An agent numbers its chunks 1, 2, 3… and sends a chunk again when it never heard
 * the acknowledgement (its connection dropped); the number, bumped in the same transaction that
 * stores the chunk, is what makes the second delivery a no-op on any instance.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('runs')
    .addColumn('agent_output_seq', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('runs').dropColumn('agent_output_seq').execute();
}
