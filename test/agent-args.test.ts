/** `runboard agent`'s command line: what it accepts, and what it refuses with a reason. */
import { describe, expect, it } from 'vitest';
import { parseAgentArgs } from '../agent/agent-args';

describe('runboard agent arguments', () => {
  it('takes the server and the key from the command line or the environment', () => {
    expect(parseAgentArgs(['--server', 'https://rb.example:3000/', '--key', 'rbh_k'], {})).toEqual({
      serverUrl: 'https://rb.example:3000',
      key: 'rbh_k',
      keyFile: undefined,
      registerPsk: undefined,
      stateDir: undefined,
    });
    expect(parseAgentArgs(['--server', 'http://rb'], { RUNBOARD_AGENT_KEY: 'rbh_env' })).toMatchObject({ key: 'rbh_env' });
    expect(parseAgentArgs(['--server', 'http://rb', '--key-file', '/k'], { RUNBOARD_REGISTER_KEY: 'psk' })).toMatchObject({ keyFile: '/k', registerPsk: 'psk' });
  });

  it('refuses what cannot work, saying why', () => {
    expect(parseAgentArgs(['--key', 'rbh_k'], {})).toEqual({ error: '--server is required' });
    expect(parseAgentArgs(['--server', 'nope', '--key', 'k'], {})).toMatchObject({ error: expect.stringMatching(/is not a URL/) });
    expect(parseAgentArgs(['--server', 'ftp://rb', '--key', 'k'], {})).toMatchObject({ error: expect.stringMatching(/http\(s\) URL/) });
    expect(parseAgentArgs(['--server', 'http://rb'], {})).toMatchObject({ error: expect.stringMatching(/give the host key/) });
    expect(parseAgentArgs(['--server', 'http://rb', '--key', 'k', '--register', 'p'], {})).toMatchObject({ error: expect.stringMatching(/--register needs --key-file/) });
    expect(parseAgentArgs(['--server', 'http://rb', '--key', 'k', '--key-file', '/k'], {})).toMatchObject({ error: expect.stringMatching(/not both/) });
    expect(parseAgentArgs(['--server', 'http://rb', '--key', 'k', '--bogus'], {})).toMatchObject({ error: expect.stringMatching(/bogus/) });
  });
});
