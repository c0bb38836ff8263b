/**
 * `runboard agent …`: the entry point on a remote host (see agent/agent-args.ts for the options).
 * Exit codes: 0 stopped by a signal, 64 bad command line, 78 the server refused the key (or
 * registration) — a systemd unit should not restart on 78 (`RestartPreventExitStatus=78`).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import packageJson from '../package.json' with { type: 'json' };
import { Agent } from './agent';
import { parseAgentArgs, USAGE } from './agent-args';
import { readKeyFile, writeKeyFile } from './key-file';
import { registerHost } from './registration';

const EX_USAGE = 64;
const EX_CONFIG = 78;

const log = (message: string) => process.stderr.write(`${new Date().toISOString()} runboard agent: ${message}\n`);

function fail(message: string, code: number): never {
  log(message);
  process.exit(code);
}

async function hostKey(args: { key: string | undefined; keyFile: string | undefined; registerPsk: string | undefined; serverUrl: string }): Promise<string> {
  if (args.key) return args.key;
  const file = args.keyFile!;
  const existing = readKeyFile(file);
  if (existing) return existing;
  if (args.registerPsk === undefined) fail(`the key file ${file} holds no key (use --register <registration key> to get one)`, EX_CONFIG);
  const registered = await registerHost(args.serverUrl, args.registerPsk);
  writeKeyFile(file, registered.key);
  log(`registered as host "${registered.hostName}"; its key is in ${file}`);
  return registered.key;
}

async function main(argv: string[]): Promise<void> {
  // `runboard agent --server …`, or (running this file directly) just the options.
  const [command, ...after] = argv;
  const rest = command === 'agent' ? after : argv;
  if (command !== 'agent' && !command?.startsWith('--')) fail(`unknown command ${JSON.stringify(command ?? '')}\n${USAGE}`, EX_USAGE);
  const args = parseAgentArgs(rest, process.env);
  if ('error' in args) fail(`${args.error}\n${USAGE}`, EX_USAGE);
  let key: string;
  try {
    key = await hostKey(args);
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error), EX_CONFIG);
  }
  const ownStateDir = !args.stateDir;
  const stateDir = args.stateDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'runboard-agent-'));
  fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const cleanUp = () => {
    if (ownStateDir) fs.rmSync(stateDir, { recursive: true, force: true });
  };
  const agent = new Agent({
    serverUrl: args.serverUrl,
    hostKey: key,
    version: packageJson.version,
    stateDir,
    log,
    onRefused: (reason) => {
      // Its runs cannot be reported any more: stop them rather than leave them behind.
      void agent.stop().finally(() => {
        cleanUp();
        fail(`the server refused this host's key (${reason}). Issue a new one (rotateHostKey) and restart the agent with it.`, EX_CONFIG);
      });
    },
  });
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log(`${signal}: stopping`);
    void agent.stop().finally(() => {
      cleanUp();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  agent.start();
}

await main(process.argv.slice(2));
