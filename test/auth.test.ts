import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, sessionCookieFrom, startTestServer, type TestServer } from './support/server';

const SIGN_IN = `mutation($input: SignInInput!) {
  signIn(input: $input) {
    __typename
    ... on SignInSuccess { data { role via user { username } } }
    ... on Error { message }
    ... on RateLimitedError { retryAfterSeconds }
  }
}`;
const VIEWER = `{ viewer { role via user { username } } }`;

describe('signing in and out', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ loginMaxFailures: 3 });
  });
  afterAll(() => server?.close());

  it('refuses an anonymous request with 401 and says how to authenticate', async () => {
    const result = await server.gql(`{ users { edges { node { id } } } }`);
    expect(result.status).toBe(401);
    expect(result.headers.get('www-authenticate')).toMatch(/Bearer/);
    expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(result.errors?.[0]?.message).toMatch(/Sign in, or send an API key/);
  });

  it('answers viewer with null for anonymous callers', async () => {
    const result = await server.gql(VIEWER);
    expect(result.status).toBe(200);
    expect(result.data).toEqual({ viewer: null });
  });

  it('signs in with a password, sets an HttpOnly SameSite=Lax cookie, and knows the viewer', async () => {
    const result = await server.gql(SIGN_IN, { input: { username: 'ADMIN', password: ADMIN_PASSWORD } });
    expect(result.data?.signIn).toEqual({ __typename: 'SignInSuccess', data: { role: 'ADMIN', via: 'SESSION', user: { username: 'admin' } } });
    const setCookie = result.headers.getSetCookie().find((c) => c.startsWith('runboard_session='))!;
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    expect(setCookie).not.toMatch(/Secure/i); // plain http here
    const cookie = sessionCookieFrom(result.headers)!;
    // Only a hash of the session id is stored.
    const sessionId = cookie.split('=')[1]!;
    const stored = await server.app.db.selectFrom('sessions').select('id').execute();
    expect(stored.length).toBeGreaterThan(0);
    expect(stored.map((row) => row.id)).not.toContain(sessionId);
    const viewer = await server.gql(VIEWER, {}, { cookie });
    expect(viewer.data?.viewer).toEqual({ role: 'ADMIN', via: 'SESSION', user: { username: 'admin' } });
  });

  it('marks the cookie Secure behind an https proxy that is trusted', async () => {
    const proxied = await startTestServer({ trustProxy: true });
    try {
      const result = await proxied.gql(SIGN_IN, { input: { username: 'admin', password: ADMIN_PASSWORD } }, { headers: { 'x-forwarded-proto': 'https' } });
      expect(result.headers.getSetCookie().find((c) => c.startsWith('runboard_session='))).toMatch(/; Secure/i);
    } finally {
      await proxied.close();
    }
  });

  it('refuses a wrong password with a typed error and no cookie', async () => {
    await server.createUser('wrongpw', 'viewer');
    const result = await server.gql(SIGN_IN, { input: { username: 'wrongpw', password: 'not-the-password' } });
    expect(result.data?.signIn).toEqual({ __typename: 'SignInError', message: 'Wrong username or password.' });
    expect(sessionCookieFrom(result.headers)).toBeUndefined();
    const unknown = await server.gql(SIGN_IN, { input: { username: 'nobody-here', password: 'whatever-it-is' } });
    expect(unknown.data?.signIn.message).toBe('Wrong username or password.');
  });

  it('asks for missing fields by name', async () => {
    const result = await server.gql(SIGN_IN, { input: { username: '', password: '' } });
    expect(result.data?.signIn).toMatchObject({ __typename: 'ValidationError', message: 'Enter a username and a password.' });
  });

  it('throttles repeated failures for a username, even with the right password afterwards', async () => {
    await server.createUser('throttled', 'viewer', 'throttled-password-1');
    for (let i = 0; i < 3; i++) {
      const failed = await server.gql(SIGN_IN, { input: { username: 'throttled', password: `guess-number-${i}` } });
      expect(failed.data?.signIn.__typename).toBe('SignInError');
    }
    const limited = await server.gql(SIGN_IN, { input: { username: 'throttled', password: 'throttled-password-1' } });
    expect(limited.data?.signIn.__typename).toBe('RateLimitedError');
    expect(limited.data?.signIn.message).toMatch(/Too many failed sign-in attempts/);
    expect(limited.data?.signIn.retryAfterSeconds).toBeGreaterThan(0);
  });

  it('signs out: the session ends and the cookie is cleared', async () => {
    const cookie = await server.signIn('admin', ADMIN_PASSWORD);
    const result = await server.gql(`mutation { signOut }`, {}, { cookie });
    expect(result.data).toEqual({ signOut: true });
    expect(result.headers.getSetCookie().find((c) => c.startsWith('runboard_session='))).toMatch(/Max-Age=0/i);
    const after = await server.gql(VIEWER, {}, { cookie });
    expect(after.data?.viewer).toBeNull();
    const refused = await server.gql(`{ users { edges { node { id } } } }`, {}, { cookie });
    expect(refused.status).toBe(401);
  });

  it('a disabled user cannot sign in', async () => {
    const id = await server.createUser('disabled-one', 'operator');
    await server.gql(`mutation($input: UpdateUserInput!) { updateUser(input: $input) { __typename } }`, { input: { id, enabled: false } }, { cookie: server.adminCookie });
    const result = await server.gql(SIGN_IN, { input: { username: 'disabled-one', password: 'disabled-one-password-123' } });
    expect(result.data?.signIn).toEqual({ __typename: 'SignInError', message: 'The account "disabled-one" is disabled.' });
  });

  it('changing your own password ends your other sessions and keeps you signed in', async () => {
    await server.createUser('changer', 'viewer', 'changer-password-1');
    const other = await server.signIn('changer', 'changer-password-1');
    const mine = await server.signIn('changer', 'changer-password-1');
    const wrong = await server.gql(
      `mutation($input: ChangePasswordInput!) { changePassword(input: $input) { __typename ... on Error { message } } }`,
      { input: { currentPassword: 'nope-nope-nope', newPassword: 'changer-password-2' } },
      { cookie: mine },
    );
    expect(wrong.data?.changePassword).toEqual({ __typename: 'ValidationError', message: 'The current password is wrong.' });
    const changed = await server.gql(
      `mutation($input: ChangePasswordInput!) { changePassword(input: $input) { __typename } }`,
      { input: { currentPassword: 'changer-password-1', newPassword: 'changer-password-2' } },
      { cookie: mine },
    );
    expect(changed.data?.changePassword.__typename).toBe('ChangePasswordSuccess');
    const fresh = sessionCookieFrom(changed.headers)!;
    expect((await server.gql(VIEWER, {}, { cookie: fresh })).data?.viewer?.user.username).toBe('changer');
    expect((await server.gql(VIEWER, {}, { cookie: other })).data?.viewer).toBeNull();
    await expect(server.signIn('changer', 'changer-password-2')).resolves.toMatch(/^runboard_session=/);
  });
});

describe('session idle expiry', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ sessionIdleSeconds: 2 });
  });
  afterAll(() => server?.close());

  it('slides with every request and ends after the idle time', async () => {
    const cookie = await server.signIn('admin', ADMIN_PASSWORD);
    // Requests every second keep it alive well past the 2 s idle time.
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const result = await server.gql(VIEWER, {}, { cookie });
      expect(result.data?.viewer?.user.username, `request ${i + 1}`).toBe('admin');
    }
    await new Promise((r) => setTimeout(r, 2300));
    const expired = await server.gql(VIEWER, {}, { cookie });
    expect(expired.data?.viewer).toBeNull();
    // The stale cookie is cleared on the way.
    expect(expired.headers.getSetCookie().find((c) => c.startsWith('runboard_session='))).toMatch(/Max-Age=0/i);
  });
});
