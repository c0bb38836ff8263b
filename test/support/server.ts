/**
 * Starts the real Runboard server for a test file, on port 0, on a database of its own (a clone
 * of the template, or a fresh embedded one), and speaks HTTP to it.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import type { Config, ExecutionConfig } from '../../core/config';
import { start, type Runboard } from '../../server';

export const ADMIN_PASSWORD = 'test-admin-password';
export const TEST_SECRET = 'test-secret-test-secret-test-secret-0123';

export const testDatabase = () => inject('testDatabase');
/** True when the suite runs on the embedded database (several processes cannot share one). */
export const embeddedOnly = () => testDatabase().mode === 'embedded';

/** Skips a test that needs several processes on one database, saying why. */
export function needsSharedDatabase(): boolean {
  if (!embeddedOnly()) return false;
  console.log(`[runboard tests] skipped: needs several processes on one PostgreSQL, and ${testDatabase().reason}.`);
  return true;
}

export interface TestDatabase {
  /** DATABASE_URL for the server; undefined in embedded mode (then dataDir holds it). */
  url: string | undefined;
  dataDir: string;
  drop(): Promise<void>;
}

/**
 * A database for one test file: a clone of the template, or an empty data dir for the embedded
 * one. `empty` skips the template (an external database with no tables at all).
 */
export async function createTestDatabase(options: { empty?: boolean } = {}): Promise<TestDatabase> {
  const info = testDatabase();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-test-'));
  if (info.mode === 'embedded') {
    return { url: undefined, dataDir, drop: async () => fs.rmSync(dataDir, { recursive: true, force: true }) };
  }
  const name = `${info.clonePrefix}${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: info.adminUrl });
  await admin.connect();
  try {
    await admin.query(options.empty ? `create database ${name}` : `create database ${name} template ${info.template}`);
  } finally {
    await admin.end();
  }
  const url = new URL(info.adminUrl!);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    dataDir,
    async drop() {
      const client = new pg.Client({ connectionString: info.adminUrl });
      await client.connect();
      try {
        await client.query(`drop database if exists ${name} with (force)`);
      } finally {
        await client.end();
      }
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export interface GraphQLResponse<T = any> {
  status: number;
  headers: Headers;
  data?: T;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

export interface TestServer extends Runboard {
  database: TestDatabase;
  /** Sends a GraphQL request over HTTP. */
  gql<T = any>(query: string, variables?: Record<string, unknown>, options?: { headers?: Record<string, string>; cookie?: string }): Promise<GraphQLResponse<T>>;
  /** Signs in and returns the Cookie header value for the session. */
  signIn(username: string, password: string): Promise<string>;
  /** Creates a user as the admin and returns its id. */
  createUser(username: string, role: 'admin' | 'operator' | 'viewer', password?: string): Promise<string>;
  /** Creates an API key for the signed-in cookie's user and returns its token. */
  createKey(cookie: string, name: string, role?: 'ADMIN' | 'OPERATOR' | 'VIEWER', expiresAt?: Date): Promise<string>;
  adminCookie: string;
  /** Stops the server and drops its database. */
  close(): Promise<void>;
}

export function basic(username: string, secret: string): string {
  return `Basic ${Buffer.from(`${username}:${secret}`).toString('base64')}`;
}

/** The `name=value` part of a Set-Cookie header for the session cookie, if any. */
export function sessionCookieFrom(headers: Headers): string | undefined {
  return headers
    .getSetCookie()
    .map((c) => c.split(';')[0]!)
    .find((c) => c.startsWith('runboard_session='));
}

/**
 * Execution settings for tests: off unless a test turns it on (`executing()`), so tests of the
 * API see runs stay queued; quick to give up on silent instances and to stop.
 */
export const TEST_EXECUTION: ExecutionConfig = {
  enabled: false,
  maxParallelRuns: 64,
  outputCapBytes: 16 * 1024 * 1024,
  outputFlushMs: 50,
  killGraceMs: 2_000,
  instanceTimeoutMs: 30_000,
  hostTimeoutMs: 60_000,
  shutdownGraceMs: 2_000,
};

/** Settings that execute runs, with some changed. */
export function executing(changes: Partial<ExecutionConfig> = {}): Partial<Config> {
  return { execution: { ...TEST_EXECUTION, enabled: true, ...changes } };
}

export async function startTestServer(
  overrides: Partial<Config> = {},
  database?: TestDatabase,
): Promise<TestServer> {
  const db = database ?? (await createTestDatabase());
  const runboard = await start({
    port: 0,
    host: '127.0.0.1',
    console: false,
    logLevel: 'silent',
    databaseUrl: db.url,
    dataDir: db.dataDir,
    secret: TEST_SECRET,
    admin: { username: 'admin', password: ADMIN_PASSWORD },
    execution: TEST_EXECUTION,
    ...overrides,
  });

  const gql: TestServer['gql'] = async (query, variables, options = {}) => {
    const response = await fetch(`${runboard.url}/api/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(options.cookie && { cookie: options.cookie }),
        ...options.headers,
      },
      body: JSON.stringify({ query, variables }),
    });
    const text = await response.text();
    let body: { data?: any; errors?: any[] } = {};
    try {
      body = JSON.parse(text);
    } catch {
      throw new Error(`Not JSON (${response.status}): ${text.slice(0, 300)}`);
    }
    return { status: response.status, headers: response.headers, data: body.data, errors: body.errors };
  };

  const signIn: TestServer['signIn'] = async (username, password) => {
    const result = await gql(
      `mutation($input: SignInInput!) { signIn(input: $input) { __typename ... on Error { message } } }`,
      { input: { username, password } },
    );
    const cookie = sessionCookieFrom(result.headers);
    if (result.data?.signIn.__typename !== 'SignInSuccess' || !cookie) {
      throw new Error(`Sign-in as ${username} failed: ${JSON.stringify(result.data ?? result.errors)}`);
    }
    return cookie;
  };

  const adminCookie = await signIn('admin', ADMIN_PASSWORD);

  const createUser: TestServer['createUser'] = async (username, role, password = `${username}-password-123`) => {
    const result = await gql(
      `mutation($input: CreateUserInput!) { createUser(input: $input) { __typename ... on CreateUserSuccess { data { id } } ... on Error { message } } }`,
      { input: { username, password, role: role.toUpperCase() } },
      { cookie: adminCookie },
    );
    const id = result.data?.createUser.data?.id;
    if (!id) throw new Error(`createUser ${username} failed: ${JSON.stringify(result.data ?? result.errors)}`);
    return id;
  };

  const createKey: TestServer['createKey'] = async (cookie, name, role, expiresAt) => {
    const result = await gql(
      `mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { __typename ... on CreateApiKeySuccess { data { token } } ... on Error { message } } }`,
      { input: { name, role, expiresAt: expiresAt?.toISOString() } },
      { cookie },
    );
    const token = result.data?.createApiKey.data?.token;
    if (!token) throw new Error(`createApiKey ${name} failed: ${JSON.stringify(result.data ?? result.errors)}`);
    return token;
  };

  return {
    ...runboard,
    database: db,
    gql,
    signIn,
    createUser,
    createKey,
    adminCookie,
    async close() {
      await runboard.stop();
      if (!database) await db.drop();
    },
  };
}
