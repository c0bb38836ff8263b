/**
 * The checkin bench's peer: the least a check-in server can do — `node:http` and `pg`, one
 * INSERT per request (a durable, autocommitted row), the pool as large as Runboard's. No auth, no
 * validation beyond JSON.parse, no GraphQL. Run as a child process: `tsx bare-checkin-server.ts
 * <database-url> <port>`; prints "listening" when ready.
 */
import http from 'node:http';
import pg from 'pg';

const [databaseUrl, port] = process.argv.slice(2);
const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });

await pool.query(`create table if not exists bare_checkins (
  id bigserial primary key, script_id int not null, name text, server text, status boolean, last_exec timestamptz not null default now())`);

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const id = Number(req.url?.split('/').pop());
    let body: { name?: string; server?: string; status?: number | boolean };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400).end('{"message":"Unable to decode data"}');
      return;
    }
    pool
      .query('insert into bare_checkins (script_id, name, server, status) values ($1, $2, $3, $4) returning id, last_exec', [id, body.name, body.server, Boolean(body.status)])
      .then(({ rows }) => {
        const row = rows[0] as { last_exec: Date };
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id, last_exec: row.last_exec.toISOString().slice(0, 19), name: body.name, server: body.server, status: Boolean(body.status) }));
      })
      .catch((error: Error) => {
        res.writeHead(500).end(JSON.stringify({ message: error.message }));
      });
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
process.once('SIGTERM', () => {
  server.close();
  server.closeAllConnections();
  void pool.end().then(() => process.exit(0));
});
