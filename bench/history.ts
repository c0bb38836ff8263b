/**
 * The history benchmark: the console's "latest 50 runs, filtered by state, with script, host and
 * schedule" query over a seeded history of a million runs, first page and next page by cursor,
 * measured server-side (in-process, through the server's own Yoga with a signed-in admin's
 * context) and counted in SQL statements per request. Peers measured in the same run show why
 * the API pages by keyset and loads relations with DataLoader: OFFSET for the same deep pages,
 * and N+1 resolvers (one query per row per relation).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildSchema, graphql } from 'graphql';
import { CompiledQuery, sql } from 'kysely';
import pg from 'pg';
import { authenticate, readCredentials } from '../core/auth.service';
import { openDatabase, statementCount, type Db } from '../db/database';
import { migrateToLatest } from '../db/migrate';
import type { App, Context } from '../graphql/context';
import { encodeGlobalID } from '../graphql/ids';
import { createGraphQLServer, GRAPHQL_PATH } from '../graphql/yoga';
import { start } from '../server';
import { countRuns, seedHistory, type SeedTimings } from './history-seed';
import { measure, printTable, type Figures } from './measure';

export interface HistoryOptions {
  runs: number;
  requests: number;
  /** Keep the database when it already holds `runs` runs (skips seeding). */
  reuse: boolean;
  databaseUrl: string;
}

/** The p99 the issue asks of the first and the next page, server-side. */
const TARGET_P99_MS = 20;
const PAGE = 50;
const DEEP_PAGE = 200;
const ADMIN = { username: 'bench-admin', password: 'bench-admin-password' };

const HISTORY_QUERY = /* GraphQL */ `
  query History($after: String) {
    runs(first: ${PAGE}, after: $after, filter: { states: [FAILED] }) {
      edges { cursor node { id state createdAt exitCode script { name } host { name } schedule { name } } }
      pageInfo { endCursor hasNextPage }
    }
  }`;

interface HistoryPage {
  runs: {
    edges: Array<{ cursor: string; node: { id: string; state: string; schedule: { name: string } | null } }>;
    pageInfo: { endCursor: string | null; hasNextPage: boolean };
  };
}

/** Creates the bench database afresh, or keeps it with `--reuse` when it is already seeded. */
async function prepareDatabase(options: HistoryOptions): Promise<{ seedSeconds: number | null; seedTimings?: SeedTimings }> {
  const url = new URL(options.databaseUrl);
  const name = url.pathname.slice(1);
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`The bench database name "${name}" must be a plain lowercase identifier.`);
  const adminUrl = new URL(url);
  adminUrl.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: adminUrl.toString() });
  await admin.connect();
  try {
    const exists = (await admin.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;
    if (options.reuse && exists) {
      const database = await openDatabase({ databaseUrl: url.toString(), dataDir: os.tmpdir() });
      try {
        await migrateToLatest(database.db);
        const present = await countRuns(database.db);
        if (present === options.runs) {
          console.log(`Reusing ${name}: it already holds ${present.toLocaleString('en')} runs.`);
          return { seedSeconds: null };
        }
        console.log(`${name} holds ${present.toLocaleString('en')} runs, not ${options.runs.toLocaleString('en')}: seeding afresh.`);
      } finally {
        await database.close();
      }
    }
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  const database = await openDatabase({ databaseUrl: url.toString(), dataDir: os.tmpdir() });
  try {
    await migrateToLatest(database.db);
    const began = performance.now();
    const seedTimings = await seedHistory(database.db, options.runs, (done) => {
      process.stdout.write(`\r  seeding runs: ${done.toLocaleString('en')} / ${options.runs.toLocaleString('en')}`);
    });
    const seedSeconds = Math.round((performance.now() - began) / 100) / 10;
    process.stdout.write('\n');
    console.log(
      `Seeded ${options.runs.toLocaleString('en')} runs (and 20 hosts, 200 scripts, 100 schedules) in ${seedSeconds} s with INSERT … SELECT generate_series: ` +
        `inserts ${seedTimings.insert} s, index builds ${seedTimings.indexes} s, foreign keys ${seedTimings.keys} s, ANALYZE ${seedTimings.analyze} s.`,
    );
    return { seedSeconds, seedTimings };
  } finally {
    await database.close();
  }
}

/** The context the server builds for an HTTP request with this session cookie. */
async function contextFor(app: App, cookie: string): Promise<Context> {
  const { viewer } = await authenticate(app, readCredentials({ cookie }, app.sessions), '127.0.0.1');
  if (!viewer) throw new Error('The bench session is no longer valid.');
  return {
    app,
    requestId: randomUUID(),
    log: app.log,
    viewer,
    ip: '127.0.0.1',
    userAgent: 'runboard-bench',
    secure: false,
    transport: 'http',
    setCookie: () => undefined,
  };
}

async function signIn(url: string): Promise<string> {
  const response = await fetch(`${url}${GRAPHQL_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($input: SignInInput!) { signIn(input: $input) { __typename } }',
      variables: { input: ADMIN },
    }),
  });
  const cookie = response.headers.getSetCookie().map((c) => c.split(';')[0]!).find((c) => c.startsWith('runboard_session='));
  if (!cookie) throw new Error(`The bench could not sign in: ${await response.text()}`);
  return cookie;
}

/** A response body, refused when it carries errors (a failing request must not pass for a fast one). */
function answered(text: string): string {
  if (!text.startsWith('{"data"') || text.includes('"errors"')) throw new Error(`The history query failed: ${text.slice(0, 500)}`);
  return text;
}

function checked<T>(body: { data?: T | null; errors?: ReadonlyArray<{ message: string }> }): T {
  if (body.errors?.length || !body.data) throw new Error(`The history query failed: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** The page query as the repository should send it, by keyset or by OFFSET, without GraphQL. */
function failedPage(db: Db, at: { keyset?: { createdAt: string; id: string }; offset?: number }) {
  let query = db.selectFrom('runs').selectAll().where('state', '=', 'failed');
  if (at.keyset) query = query.where(sql<boolean>`(created_at, id) < (${at.keyset.createdAt}::timestamptz, ${at.keyset.id}::uuid)`);
  if (at.offset) query = query.offset(at.offset);
  return query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(PAGE + 1);
}

/** The same query served by naive resolvers: one statement per row for each relation. */
function nPlusOne(db: Db): () => Promise<unknown> {
  const schema = buildSchema(`
    type Query { runs(state: String!): [Run!]! }
    type Run { id: ID! state: String! createdAt: String! exitCode: Int script: Named host: Named schedule: Named }
    type Named { name: String! }`);
  const named = (table: 'scripts' | 'hosts' | 'schedules', id: string | null) => async () =>
    id ? db.selectFrom(table).select('name').where('id', '=', id).executeTakeFirst() : null;
  const rootValue = {
    runs: async () =>
      (await failedPage(db, {}).execute()).slice(0, PAGE).map((row) => ({
        id: row.id,
        state: row.state,
        createdAt: row.created_at.toISOString(),
        exitCode: row.exit_code,
        script: named('scripts', row.script_id),
        host: named('hosts', row.host_id),
        schedule: named('schedules', row.schedule_id),
      })),
  };
  const source = `{ runs(state: "failed") { id state createdAt exitCode script { name } host { name } schedule { name } } }`;
  return async () => checked(await graphql({ schema, source, rootValue }));
}

export async function historyBench(options: HistoryOptions): Promise<Record<string, unknown>> {
  console.log(`History benchmark: ${options.runs.toLocaleString('en')} runs, ${options.requests} requests per variant, on ${os.cpus().length} cores.`);
  const { seedSeconds, seedTimings } = await prepareDatabase(options);

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'runboard-bench-'));
  const runboard = await start({
    port: 0,
    host: '127.0.0.1',
    console: false,
    logLevel: 'silent',
    databaseUrl: options.databaseUrl,
    dataDir,
    secret: 'bench-secret-bench-secret-bench-secret-01',
    admin: ADMIN,
  });
  try {
    const { app } = runboard;
    const db = app.db;
    const statements = () => statementCount(db);
    const cookie = await signIn(runboard.url);
    const yoga = createGraphQLServer(app);
    const body = (after: string | null) => JSON.stringify({ query: HISTORY_QUERY, variables: { after } });
    // What is timed: the server's work up to the serialized response, not a client parsing it.
    const serverSide = async (after: string | null) => {
      const context = await contextFor(app, cookie);
      const response = await yoga.fetch(
        `http://bench.local${GRAPHQL_PATH}`,
        { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(after) },
        { prepared: context },
      );
      return answered(await response.text());
    };
    const overHttp = async (after: string | null) => {
      const response = await fetch(`${runboard.url}${GRAPHQL_PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', cookie },
        body: body(after),
      });
      return answered(await response.text());
    };
    const page = async (after: string | null) => checked(JSON.parse(await serverSide(after)) as { data?: HistoryPage });

    // What the measured pages hold, checked once, so the figures are for the real thing.
    const first = await page(null);
    const { edges } = first.runs;
    if (edges.length !== PAGE || edges.some((e) => e.node.state !== 'FAILED') || !edges.some((e) => e.node.schedule)) {
      throw new Error(`The first page is not ${PAGE} failed runs with their schedules: ${JSON.stringify(edges.slice(0, 2))}`);
    }
    const nextCursor = first.runs.pageInfo.endCursor!;
    // Page 200, or the last full page of a smaller history.
    const failed = Number((await db.selectFrom('runs').select(sql<string>`count(*)`.as('n')).where('state', '=', 'failed').executeTakeFirstOrThrow()).n);
    const deepPage = Math.min(DEEP_PAGE, Math.floor(failed / PAGE));
    if (deepPage < 3) throw new Error(`Only ${failed} failed runs: seed more runs (--runs).`);
    let deepCursor = nextCursor;
    for (let at = 2; at < deepPage; at++) deepCursor = (await page(deepCursor)).runs.pageInfo.endCursor!;
    const deepOffset = (deepPage - 1) * PAGE;
    const [lastBefore] = await failedPage(db, { offset: deepOffset - 1 }).clearSelect().select([sql<string>`created_at::text`.as('createdAt'), 'id']).limit(1).execute();
    const deepByOffset = await failedPage(db, { offset: deepOffset }).execute();
    const deepByCursor = await page(deepCursor);
    if (!lastBefore || deepByCursor.runs.edges[0]?.node.id !== encodeGlobalID('Run', deepByOffset[0]?.id ?? '')) {
      throw new Error(`Page ${deepPage} by cursor does not start where OFFSET ${deepOffset} does: keyset paging skips or repeats rows.`);
    }
    // Page 1000 for the SQL peers, when the history is that long.
    const [deepest] = await failedPage(db, { offset: 999 * PAGE - 1 }).clearSelect().select([sql<string>`created_at::text`.as('createdAt'), 'id']).limit(1).execute();

    const n = options.requests;
    const loadBefore = os.loadavg()[0]!;
    console.log(`Measuring… (load average ${loadBefore.toFixed(2)}; other processes competing for the cores show up in p99)`);
    const firstPage = await measure(n, () => serverSide(null), statements);
    const nextPage = await measure(n, () => serverSide(nextCursor), statements);
    const deep = await measure(n, () => serverSide(deepCursor), statements);
    const http = await measure(n, () => overHttp(null), statements);
    const peers: Record<string, Figures> = {
      nPlusOneFirstPage: await measure(n, nPlusOne(db), statements),
      keysetDeepPageSql: await measure(n, () => failedPage(db, { keyset: lastBefore }).execute(), statements),
      offsetDeepPageSql: await measure(n, () => failedPage(db, { offset: deepOffset }).execute(), statements),
    };
    if (deepest) {
      peers.keysetPage1000Sql = await measure(n, () => failedPage(db, { keyset: deepest }).execute(), statements);
      // A few hundred milliseconds each: a hundred requests say enough.
      peers.offsetPage1000Sql = await measure(Math.min(n, 100), () => failedPage(db, { offset: 999 * PAGE }).execute(), statements, 5);
    }

    const loadAfter = os.loadavg()[0]!;
    console.log(
      `\nServer-side latency over ${n} requests each (after ${Math.min(200, n)} unmeasured), target p99 ≤ ${TARGET_P99_MS} ms; ` +
        `cpu ms is this process's CPU per request (PostgreSQL's is not in it):\n`,
    );
    printTable([
      { label: 'GraphQL first page (keyset + DataLoader)', figures: firstPage, note: verdict(firstPage) },
      { label: 'GraphQL next page by cursor', figures: nextPage, note: verdict(nextPage) },
      { label: `GraphQL page ${deepPage} by cursor`, figures: deep },
      { label: 'GraphQL first page over HTTP (loopback)', figures: http, note: 'end to end, for context' },
      { label: 'peer: N+1 resolvers, first page', figures: peers.nPlusOneFirstPage! },
      { label: `peer: SQL page ${deepPage} by keyset`, figures: peers.keysetDeepPageSql! },
      { label: `peer: SQL page ${deepPage} by OFFSET ${deepOffset}`, figures: peers.offsetDeepPageSql! },
      ...(peers.keysetPage1000Sql ? [{ label: 'peer: SQL page 1000 by keyset', figures: peers.keysetPage1000Sql }] : []),
      ...(peers.offsetPage1000Sql ? [{ label: `peer: SQL page 1000 by OFFSET ${999 * PAGE}`, figures: peers.offsetPage1000Sql, note: `${peers.offsetPage1000Sql.requests} requests` }] : []),
    ]);
    console.log(`\nPage ${deepPage} by cursor starts on the row OFFSET ${deepOffset} finds. Statements per request include signing in (the session with its user, one query).`);
    console.log(`Load average ${loadBefore.toFixed(2)} before measuring, ${loadAfter.toFixed(2)} after.`);
    if (firstPage.p99 > TARGET_P99_MS || nextPage.p99 > TARGET_P99_MS) await explain(db, lastBefore);

    return {
      bench: 'history',
      runs: options.runs,
      requests: n,
      seedSeconds,
      seedMethod: 'insert-select-generate-series',
      seedTimings,
      cores: os.cpus().length,
      loadAverage: [loadBefore, loadAfter].map((l) => Math.round(l * 100) / 100),
      firstPage,
      nextPage,
      deepPage: { page: deepPage, ...deep },
      http,
      peers,
    };
  } finally {
    await runboard.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function verdict(figures: Figures): string {
  return figures.p99 <= TARGET_P99_MS ? 'meets target' : `MISSES the ${TARGET_P99_MS} ms target`;
}

/** When a target is missed, show the plans so the reason is on screen. */
async function explain(db: Db, keyset: { createdAt: string; id: string }): Promise<void> {
  for (const query of [failedPage(db, {}), failedPage(db, { keyset })]) {
    const compiled = query.compile();
    const { rows } = await db.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`explain (analyze, buffers) ${compiled.sql}`, [...compiled.parameters]));
    console.log(`\n${compiled.sql}\n${rows.map((r) => r['QUERY PLAN']).join('\n')}`);
  }
}
