/**
 * Listing runs with their script, host and schedule costs a fixed number of SQL statements, not
 * one per row: the relations load through DataLoader, one batch each. Counted with the
 * database's statement counter around one HTTP request at a time.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { statementCount } from '../db/database';
import { ADMIN_PASSWORD, startTestServer, type TestServer } from './support/server';

const RUNS = 60;
/** Signing in (the session with its user, one query) + the page + one batch per relation (script, host, schedule, script groups). */
const STATEMENT_BUDGET = 6;

const RUNS_QUERY = `query($first: Int!, $after: String) {
  runs(first: $first, after: $after, filter: { states: [FAILED] }) {
    edges { node { id state script { name groups { name } } host { name } schedule { name } } }
    pageInfo { endCursor hasNextPage }
  }
}`;

const pad = (i: number) => String(i).padStart(2, '0');

describe('statements per request for a list of runs with relations', () => {
  let server: TestServer;
  let cookie: string;

  beforeAll(async () => {
    server = await startTestServer();
    const db = server.app.db;
    // Run i has its own script, host and schedule, all named by i; run 0 is the newest.
    await sql`insert into groups (name) select 'dl-group-' || lpad(g::text, 2, '0') from generate_series(0, 2) g`.execute(db);
    await sql`
      insert into scripts (name) select 'dl-script-' || lpad(g::text, 2, '0') from generate_series(0, ${RUNS - 1}::int) g`.execute(db);
    await sql`
      insert into group_scripts (group_id, script_id)
      select g.id, s.id from scripts s join groups g on g.name = 'dl-group-0' || (substr(s.name, 11)::int % 3)`.execute(db);
    await sql`
      insert into hosts (name, kind) select 'dl-host-' || lpad(g::text, 2, '0'), 'agent' from generate_series(0, ${RUNS - 1}::int) g`.execute(db);
    await sql`
      insert into schedules (name, script_id, kind, cron)
      select 'dl-schedule-' || substr(name, 11), id, 'cron', '0 * * * *' from scripts where name like 'dl-script-%'`.execute(db);
    await sql`
      insert into runs (script_id, script_name, host_id, host_name, schedule_id, state, trigger, exit_code, created_at)
      select s.id, s.name, h.id, h.name, sc.id, 'failed', 'schedule', 1, now() - substr(s.name, 11)::int * interval '1 minute'
      from scripts s
      join hosts h on h.name = 'dl-host-' || substr(s.name, 11)
      join schedules sc on sc.script_id = s.id`.execute(db);
    // Newer runs in another state, which the filter must leave out.
    await sql`
      insert into runs (script_id, script_name, state, trigger, exit_code, created_at)
      select id, name, 'succeeded', 'manual', 0, now() + interval '1 hour' from scripts where name like 'dl-script-%'`.execute(db);
    cookie = await server.signIn('admin', ADMIN_PASSWORD);
  });
  afterAll(() => server?.close());

  /**
   * The statements one request sends, the least over three tries: the count is global, so a
   * background statement (a session sliding, a sweeper) can only add to one try, never remove.
   */
  async function statementsFor(variables: Record<string, unknown>) {
    let least = Number.POSITIVE_INFINITY;
    let body: any;
    for (let i = 0; i < 3; i++) {
      const before = statementCount(server.app.db);
      const result = await server.gql(RUNS_QUERY, variables, { cookie });
      least = Math.min(least, statementCount(server.app.db) - before);
      expect(result.errors).toBeUndefined();
      body = result.data;
    }
    return { statements: least, runs: body.runs };
  }

  it('loads 50 runs with script, host, schedule and script groups in a few statements', async () => {
    const { statements, runs } = await statementsFor({ first: 50 });
    expect(runs.edges).toHaveLength(50);
    runs.edges.forEach(({ node }: { node: any }, i: number) => {
      expect(node).toMatchObject({
        state: 'FAILED',
        script: { name: `dl-script-${pad(i)}`, groups: [{ name: `dl-group-0${i % 3}` }] },
        host: { name: `dl-host-${pad(i)}` },
        schedule: { name: `dl-schedule-${pad(i)}` },
      });
    });
    expect(statements).toBeGreaterThanOrEqual(5); // the counter sees the page and its batches
    expect(statements).toBeLessThanOrEqual(STATEMENT_BUDGET);
  });

  it('sends as many statements for 50 runs as for 10, and for the next page by cursor', async () => {
    const ten = await statementsFor({ first: 10 });
    const fifty = await statementsFor({ first: 50 });
    expect(ten.runs.edges).toHaveLength(10);
    expect(fifty.statements).toBe(ten.statements);

    const next = await statementsFor({ first: 50, after: fifty.runs.pageInfo.endCursor });
    expect(next.runs.edges.map((e: any) => e.node.script.name)).toEqual(
      Array.from({ length: RUNS - 50 }, (_, i) => `dl-script-${pad(50 + i)}`),
    );
    expect(next.runs.pageInfo.hasNextPage).toBe(false);
    expect(next.statements).toBe(fifty.statements);
  });
});
