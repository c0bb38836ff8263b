/**
 * The agents bench's floor: a bare `ws` server that a fleet of bare `ws` clients dial into — no
 * database, no GraphQL, no authentication: what any server on this machine could do at best for
 * heartbeats and a fan-out. Run as its own process (like Runboard's server), so its CPU time can
 * be read apart from the clients':
 *
 *   node --import tsx bench/peers/ws-fleet.ts --port <p>
 *
 * Clients send `hb` (a heartbeat), and answer `run` with `started` then `finished`. A client that
 * sends `go` makes the server send `run` to every other client; once each has answered it
 * replies `{"startedMs": [...], "finishedMs": [...]}` (ms after the fan-out began) to that client.
 * It exits when stdin closes.
 */
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';

const { values } = parseArgs({ options: { port: { type: 'string' } } });
const port = Number(values.port);
if (!Number.isInteger(port)) {
  console.error('Usage: ws-fleet.ts --port <p>');
  process.exit(2);
}

const fleet = new Set<WebSocket>();
let heartbeats = 0;
let fanOut: { began: number; by: WebSocket; started: number[]; finished: number[] } | undefined;
const wss = new WebSocketServer({ host: '127.0.0.1', port });

wss.on('connection', (socket) => {
  fleet.add(socket);
  socket.on('close', () => fleet.delete(socket));
  socket.on('message', (data) => {
    const message = data.toString();
    if (message === 'hb') heartbeats++;
    else if (message === 'go') {
      fleet.delete(socket);
      fanOut = { began: performance.now(), by: socket, started: [], finished: [] };
      for (const client of fleet) client.send('run');
    } else if (fanOut && (message === 'started' || message === 'finished')) {
      fanOut[message].push(performance.now() - fanOut.began);
      if (fanOut.finished.length === fleet.size) {
        fanOut.by.send(JSON.stringify({ startedMs: fanOut.started, finishedMs: fanOut.finished, heartbeats }));
        fanOut = undefined;
      }
    }
  });
});
wss.on('listening', () => console.log(JSON.stringify({ listening: port })));
process.stdin.on('end', () => {
  for (const client of fleet) client.terminate();
  wss.close();
  process.exit(0);
}).resume();
