/**
 * Self-registration, the way Otto agents did it (COMPAT.md `PUT /api/register`): the host sends
 * the server's registration pre-shared key with its address, uname and hostname, and gets its
 * own host key back. Here it is the `registerHost` mutation over HTTP (no session needed).
 */
import os from 'node:os';

const REGISTER = `mutation($input: RegisterHostInput!) {
  registerHost(input: $input) {
    __typename
    ... on RegisterHostSuccess { data { agentKey host { name } } }
    ... on Error { message }
  }
}`;

export interface Registered {
  key: string;
  hostName: string;
}

export async function registerHost(serverUrl: string, psk: string): Promise<Registered> {
  const input = { psk, hostname: os.hostname(), uname: `${os.type()} ${os.hostname()} ${os.release()} ${os.version()} ${os.arch()}`, address: os.hostname() };
  let response: Response;
  try {
    response = await fetch(`${serverUrl}/api/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json' },
      body: JSON.stringify({ query: REGISTER, variables: { input } }),
    });
  } catch (error) {
    throw new Error(`Cannot reach ${serverUrl} to register: ${(error as Error).message}`, { cause: error });
  }
  const body = (await response.json().catch(() => ({}))) as {
    data?: { registerHost?: { __typename: string; message?: string; data?: { agentKey: string; host: { name: string } } } };
    errors?: { message: string }[];
  };
  const result = body.data?.registerHost;
  if (result?.data) return { key: result.data.agentKey, hostName: result.data.host.name };
  throw new Error(`The server refused to register this host: ${result?.message ?? body.errors?.[0]?.message ?? `HTTP ${response.status}`}`);
}
