/**
 * The benches' GraphQL client over HTTP: sign in as the bench admin, create an API key, queue a
 * run — the operations a person's tools would send, so a bench measures the whole request path.
 */
import { decodeId } from '../graphql/ids';
import { GRAPHQL_PATH } from '../graphql/yoga';

/** How a request is signed in: a session cookie or an API key. */
export type Credentials = { cookie: string } | { apiKey: string };

/** Sends one operation; refuses a response with errors or an error result (`__typename` …Error). */
export async function graphql<T>(url: string, credentials: Credentials | null, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (credentials && 'cookie' in credentials) headers.cookie = credentials.cookie;
  if (credentials && 'apiKey' in credentials) headers.authorization = `Bearer ${credentials.apiKey}`;
  let response: Response;
  try {
    response = await fetch(`${url}${GRAPHQL_PATH}`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  } catch (error) {
    throw new Error(`The bench could not reach Runboard at ${url}: ${(error as Error).message}`, { cause: error });
  }
  const text = await response.text();
  let body: { data?: T; errors?: Array<{ message: string }> };
  try {
    body = JSON.parse(text) as typeof body;
  } catch (error) {
    throw new Error(`Runboard answered ${response.status} with something other than JSON: ${text.slice(0, 300)}`, { cause: error });
  }
  if (body.errors?.length || !body.data) throw new Error(`A GraphQL request failed: ${JSON.stringify(body.errors ?? body).slice(0, 500)}`);
  const failed = Object.values(body.data as Record<string, { __typename?: string; message?: string } | null>).find((result) => result?.__typename?.endsWith('Error'));
  if (failed) throw new Error(`A GraphQL mutation was refused (${failed.__typename}): ${failed.message ?? ''}`);
  return body.data;
}

/** Signs in over HTTP and returns the session cookie. */
export async function signIn(url: string, admin: { username: string; password: string }): Promise<{ cookie: string }> {
  const response = await fetch(`${url}${GRAPHQL_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($input: SignInInput!) { signIn(input: $input) { __typename ... on Error { message } } }',
      variables: { input: admin },
    }),
  });
  const cookie = response.headers.getSetCookie().map((c) => c.split(';')[0]!).find((c) => c.startsWith('runboard_session='));
  if (!cookie) throw new Error(`The bench could not sign in as "${admin.username}": ${(await response.text()).slice(0, 300)}`);
  return { cookie };
}

/** Creates an API key for the signed-in user and returns its token. */
export async function createApiKey(url: string, session: { cookie: string }, name: string): Promise<{ apiKey: string }> {
  const data = await graphql<{ createApiKey: { data?: { token: string } } }>(
    url,
    session,
    'mutation($input: CreateApiKeyInput!) { createApiKey(input: $input) { __typename ... on Error { message } ... on CreateApiKeySuccess { data { token } } } }',
    { input: { name } },
  );
  return { apiKey: data.createApiKey.data!.token };
}

/** Queues a run of `scriptId` on the local host with the `startRun` mutation; returns its id. */
export async function startRunOverHttp(url: string, credentials: Credentials, scriptId: string): Promise<string> {
  const data = await graphql<{ startRun: { data?: Array<{ id: string }> } }>(
    url,
    credentials,
    'mutation($input: StartRunInput!) { startRun(input: $input) { __typename ... on Error { message } ... on StartRunSuccess { data { id } } } }',
    { input: { scriptId } },
  );
  const id = data.startRun.data?.[0]?.id;
  if (!id) throw new Error(`startRun queued no run: ${JSON.stringify(data)}`);
  return decodeId('Run', id);
}

/** Creates a script that runs `args` (program, then its arguments) as a `command` job; returns its id. */
export async function createCommandScript(url: string, credentials: Credentials, name: string, args: string[], timeoutSeconds: number): Promise<string> {
  const data = await graphql<{ createScript: { data?: { id: string } } }>(
    url,
    credentials,
    'mutation($input: CreateScriptInput!) { createScript(input: $input) { __typename ... on Error { message } ... on CreateScriptSuccess { data { id } } } }',
    { input: { name, jobClass: 'command', jobArgs: args, timeoutSeconds } },
  );
  return decodeId('Script', data.createScript.data!.id);
}
