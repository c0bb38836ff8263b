/**
 * The live-output bench's floor: the same line printer piped straight into a bare `ws` fan-out,
 * no database, no GraphQL, no chunking: what any server on this machine could do at best. Run as
 * its own process (like Runboard's server) so its readers do not share its event loop:
 *
 *   node --import tsx bench/peers/ws-fanout.ts --port <p> --clients <n> -- <printer command…>
 *
 * It listens on 127.0.0.1:<p>, starts the printer once <n> clients are connected, sends every
 * piece of the printer's stdout to all of them as it comes, and when the printer exits closes
 * them, prints `{"peakMiB": …}` (its own peak memory) and exits with the printer's exit code.
 * It gives up after two minutes without clients, or when the printer runs past --cap seconds.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';
import { memoryOf } from '../process-memory';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { port: { type: 'string' }, clients: { type: 'string' }, cap: { type: 'string', default: '120' } },
});
const port = Number(values.port);
const wanted = Number(values.clients);
const capMs = Number(values.cap) * 1000;
const [command, ...args] = positionals;
if (!Number.isInteger(port) || !Number.isInteger(wanted) || wanted < 1 || !command) {
  console.error('Usage: ws-fanout.ts --port <p> --clients <n> [--cap <seconds>] -- <printer command…>');
  process.exit(2);
}

const clients = new Set<WebSocket>();
let printer: ChildProcess | undefined;
const wss = new WebSocketServer({ host: '127.0.0.1', port });
const idle = setTimeout(() => finish(4, `no ${wanted} clients within two minutes`), 120_000);

function finish(code: number, problem?: string): void {
  if (problem) console.error(`ws-fanout: ${problem}`);
  for (const client of clients) client.close(1000);
  wss.close();
  console.log(JSON.stringify({ peakMiB: memoryOf('self')?.peakMiB ?? null }));
  process.exitCode = code;
}

function startPrinter(): void {
  clearTimeout(idle);
  printer = spawn(command!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const cap = setTimeout(() => printer?.kill('SIGKILL'), capMs);
  printer.stdout!.on('data', (chunk: Buffer) => {
    for (const client of clients) client.send(chunk, { binary: false });
  });
  printer.once('error', (error) => finish(1, `could not start the printer: ${error.message}`));
  printer.once('close', (code, signal) => {
    clearTimeout(cap);
    finish(code ?? 1, signal ? `the printer was stopped by ${signal}` : undefined);
  });
}

wss.on('listening', () => console.log('listening'));
wss.on('error', (error) => finish(1, `could not listen on 127.0.0.1:${port}: ${error.message}`));
wss.on('connection', (client) => {
  clients.add(client);
  client.on('close', () => clients.delete(client));
  if (!printer && clients.size === wanted) startPrinter();
});
