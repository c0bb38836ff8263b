/**
 * The command line of `runboard agent`, parsed into settings or a message saying what is wrong.
 *
 *   runboard agent --server <url> (--key <host key> | --key-file <path> [--register <psk>]) [--state-dir <dir>]
 *
 * The key may also come from RUNBOARD_AGENT_KEY, and the registration key from
 * RUNBOARD_REGISTER_KEY (so they stay out of `ps`). With `--register`, a
 * key file that already holds a key is used as it is; otherwise the host registers itself with
 * the registration pre-shared key and the key it gets is written to the key file.
 */
import { parseArgs } from 'node:util';

export interface AgentArgs {
  serverUrl: string;
  key: string | undefined;
  keyFile: string | undefined;
  registerPsk: string | undefined;
  stateDir: string | undefined;
}

export const USAGE = `usage: runboard agent --server <url> --key <host key>
       runboard agent --server <url> --key-file <path> [--register <registration key>]

  --server <url>        the Runboard server, e.g. https://runboard.example:3000
  --key <host key>      this host's agent key (rbh_…); or set RUNBOARD_AGENT_KEY
  --key-file <path>     read the key from this file (one line)
  --register <psk>      with --key-file: when the file has no key yet, register this host with the
                        server's registration key and keep the key it issues in the file (mode 0600);
                        or set RUNBOARD_REGISTER_KEY
  --state-dir <dir>     where output waits, on disk, while the server is unreachable (default: a
                        private temporary directory)`;

export function parseAgentArgs(argv: string[], env: Record<string, string | undefined>): AgentArgs | { error: string } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        server: { type: 'string' },
        key: { type: 'string' },
        'key-file': { type: 'string' },
        register: { type: 'string' },
        'state-dir': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
  const server = values.server;
  if (!server) return { error: '--server is required' };
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return { error: `--server ${JSON.stringify(server)} is not a URL (write e.g. https://runboard.example:3000)` };
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) return { error: `--server must be an http(s) URL, not ${url.protocol}` };
  const key = values.key ?? (env.RUNBOARD_AGENT_KEY || undefined);
  const keyFile = values['key-file'];
  const registerPsk = values.register ?? (env.RUNBOARD_REGISTER_KEY || undefined);
  if (values.register !== undefined && !keyFile) return { error: '--register needs --key-file: the key it is issued must be kept somewhere' };
  if (!key && !keyFile) return { error: 'give the host key: --key, --key-file or RUNBOARD_AGENT_KEY' };
  if (key && keyFile) return { error: 'give either --key or --key-file, not both' };
  return {
    serverUrl: url.toString().replace(/\/+$/, '').replace(/^ws/, 'http'),
    key,
    keyFile,
    registerPsk: keyFile ? registerPsk : undefined,
    stateDir: values['state-dir'],
  };
}
