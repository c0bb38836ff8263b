/**
 * The agents bench's load process: many real agents (agent/agent.ts, the code `runboard agent`
 * runs) in one process, each with its own graphql-ws connection and host key, executing what
 * they are sent with the local executor.
 *
 *   node --import tsx bench/agent-fleet.ts --server <url> --keys <file with one key a line> [--cap 300]
 *
 * Prints one JSON line per agent event it counts (`{"connected": n}` as agents say hello), keeps
 * running until stdin closes or the cap passes, then stops every agent and exits.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Agent } from '../agent/agent';

const { values } = parseArgs({ options: { server: { type: 'string' }, keys: { type: 'string' }, cap: { type: 'string', default: '300' } } });
if (!values.server || !values.keys) {
  console.error('Usage: agent-fleet.ts --server <url> --keys <file> [--cap <seconds>]');
  process.exit(2);
}
const keys = fs.readFileSync(values.keys, 'utf8').split('\n').filter(Boolean);
const stateRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'runboard-fleet-'));
let connected = 0;
let problems = 0;
const agents = keys.map((hostKey, i) => {
  const stateDir = path.join(stateRoot, String(i));
  fs.mkdirSync(stateDir, { mode: 0o700 });
  return new Agent({
    serverUrl: values.server!,
    hostKey,
    version: 'bench',
    stateDir,
    log: (message) => {
      if (message.startsWith('connected as host')) connected++;
      else if (!message.startsWith('connecting to') && !message.startsWith('run ')) {
        problems++;
        if (problems <= 5) console.error(`agent ${i}: ${message}`);
      }
    },
    onRefused: (reason) => console.error(`agent ${i} refused: ${reason}`),
  });
});

// Connect in waves, as a fleet coming up would, without a thousand handshakes in one tick.
for (let i = 0; i < agents.length; i++) {
  agents[i]!.start();
  if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 20));
}
const report = setInterval(() => console.log(JSON.stringify({ connected, problems })), 250);

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(report);
  await Promise.all(agents.map((agent) => agent.stop(1_000)));
  fs.rmSync(stateRoot, { recursive: true, force: true });
  process.exit(0);
}
process.stdin.on('end', () => void stop()).resume();
setTimeout(() => void stop(), Number(values.cap) * 1000).unref();
