/**
 * Agents end to end: the real server executing runs, an agent host with its key created over
 * GraphQL, and `runboard agent` as a separate process (agent/main.ts through tsx) dialling in —
 * directly, or through a TCP proxy the test can cut. It comes online, runs scripts with live
 * output, is cancelled (its process tree dies), survives cut connections without losing or
 * doubling output, is refused once its key is revoked, and goes offline (its run lost) when killed.
 * The protocol itself is also spoken by hand: numbered output stored once, bad messages refused.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { insertRuns } from '../db/run.repository';
import { decodeId, encodeGlobalID } from '../graphql/ids';
import { ROOT } from './support/process';
import { createTestDatabase, executing, needsSharedDatabase, startTestServer, type TestServer } from './support/server';
import { runOnce, wsClient } from './support/ws';

/** Short, so going offline is quick to observe. */
const HOST_TIMEOUT_MS = 5_000;

const START = `mutation($input: StartRunInput!) { startRun(input: $input) { __typename ... on StartRunSuccess { data { id } } ... on Error { message } } }`;
const CANCEL = `mutation($id: ID!) { cancelRun(id: $id) { __typename ... on Error { message } } }`;

async function until<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Whether a process runs (a zombie waiting to be reaped does not). */
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

interface AgentProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const agents: AgentProcess[] = [];

function spawnAgent(serverUrl: string, key: string): AgentProcess {
  return spawnAgentWith(['--server', serverUrl, '--key', key]);
}

function spawnAgentWith(args: string[]): AgentProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'agent/main.ts', ...args], {
    cwd: ROOT,
    env: { NODE_ENV: 'production', PATH: process.env.PATH, HOME: process.env.HOME },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const agent = { child, output: () => output, exited };
  agents.push(agent);
  return agent;
}

/**
 * A TCP proxy in front of the server whose connections the test can cut — after first swallowing
 * what the server sends for a moment, so acknowledgements are lost while the agent's messages
 * still arrive (the agent must then send again what the server already stored).
 */
interface Proxy {
  url: string;
  cuts: number;
  /** Drops server → agent traffic for `ms`, then destroys every connection and refuses new ones for `downMs`. */
  cut(ms?: number, downMs?: number): Promise<void>;
  close(): Promise<void>;
}

async function startProxy(target: string | (() => string)): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  let swallowing = false;
  let down = false;
  const server = net.createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const { hostname, port } = new URL(typeof target === 'string' ? target : target());
    const upstream = net.connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    client.on('data', (data) => upstream.write(data));
    upstream.on('data', (data) => {
      if (!swallowing) client.write(data);
    });
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: Proxy = {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    cuts: 0,
    async cut(ms = 0, downMs = 0) {
      swallowing = true;
      await new Promise((resolve) => setTimeout(resolve, ms));
      proxy.cuts++;
      down = true;
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      swallowing = false;
      setTimeout(() => (down = false), downMs);
    },
    async close() {
      await proxy.cut();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return proxy;
}

describe('agents', () => {
  let server: TestServer;
  let adminKey: string;

  const gql = async (query: string, variables: Record<string, unknown> = {}) => {
    const result = await server.gql(query, variables, { cookie: server.adminCookie });
    if (result.errors) throw new Error(JSON.stringify(result.errors));
    return result.data;
  };

  const createAgentHost = async (name: string): Promise<{ id: string; key: string }> => {
    const data = await gql(`mutation($input: CreateHostInput!) { createHost(input: $input) { ... on CreateHostSuccess { data { agentKey host { id } } } ... on Error { message } } }`, {
      input: { name },
    });
    return { id: decodeId('Host', data.createHost.data.host.id), key: data.createHost.data.agentKey };
  };

  const host = async (id: string) => server.app.db.selectFrom('hosts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

  const script = async (body: string, values: Record<string, unknown> = {}) => {
    const row = await server.app.db
      .insertInto('scripts')
      .values({ name: `s-${Math.random().toString(36).slice(2, 10)}`, executable: '/bin/sh', body, ...values } as never)
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  };

  const startOn = async (scriptId: string, hostId: string): Promise<string> => {
    const data = await gql(START, { input: { scriptId: encodeGlobalID('Script', scriptId), hostId: encodeGlobalID('Host', hostId) } });
    if (!data.startRun.data) throw new Error(`startRun failed: ${JSON.stringify(data.startRun)}`);
    return decodeId('Run', data.startRun.data[0].id);
  };

  const run = (id: string) => server.app.db.selectFrom('runs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  const storedOutput = async (id: string) =>
    (await server.app.db.selectFrom('run_output').select('data').where('run_id', '=', id).orderBy('seq').execute()).map((c) => c.data).join('');
  const finished = (id: string, timeoutMs?: number) =>
    until(`run ${id} to finish`, async () => {
      const row = await run(id);
      return row.finished_at && !['queued', 'dispatched', 'running'].includes(row.state) ? row : undefined;
    }, timeoutMs);
  const online = (id: string) => until(`host ${id} online`, async () => (await host(id)).online && server.execution!.agents.isConnected(id));

  beforeAll(async () => {
    server = await startTestServer(executing({ hostTimeoutMs: HOST_TIMEOUT_MS, killGraceMs: 1_000 }));
    adminKey = await server.createKey(server.adminCookie, 'agent-tests');
  });
  afterEach(async () => {
    for (const agent of agents.splice(0)) {
      agent.child.kill('SIGKILL');
      await agent.exited;
    }
  });
  afterAll(async () => {
    await server?.close();
  });

  it('comes online (hostUpdated says so, with its version) and runs a script on its host with live output, exit code and state recorded', async () => {
    const { id, key } = await createAgentHost('agent-basic');
    const watcher = wsClient(server.url, { apiKey: adminKey });
    const seen: any[] = [];
    const stopWatching = watcher.subscribe(
      { query: `subscription { hostUpdated { kind host { id online agentVersion hostname lastSeenAt } } }` },
      { next: (result) => seen.push(result.data?.hostUpdated), error: () => undefined, complete: () => undefined },
    );
    expect((await host(id)).online).toBe(false);
    spawnAgent(server.url, key);
    const event = await until('hostUpdated with the host online', () => seen.find((e) => e?.host?.id === encodeGlobalID('Host', id) && e.host.online));
    expect(event.host.agentVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(event.host.lastSeenAt).toBeTruthy();
    await online(id);

    // The script says which program started it: the agent's node process, not the server.
    const scriptId = await script('tr "\\0" " " < /proc/$PPID/cmdline; echo; for i in 1 2 3 4 5; do echo "line $i"; sleep 0.3; done; exit 3');
    const runId = await startOn(scriptId, id);
    const client = wsClient(server.url, { apiKey: adminKey });
    const arrivals: { text: string; state: string }[] = [];
    await new Promise<void>((resolve, reject) => {
      client.subscribe(
        { query: `subscription($runId: ID!) { runOutput(runId: $runId) { data } }`, variables: { runId } },
        {
          next: (result) => {
            const text = (result.data as any)?.runOutput?.data as string;
            void run(runId).then((row) => arrivals.push({ text, state: row.state }));
          },
          error: reject,
          complete: resolve,
        },
      );
    });
    const row = await finished(runId);
    expect(row.state).toBe('failed');
    expect(row.exit_code).toBe(3);
    const output = await storedOutput(runId);
    expect(output).toContain('agent/main.ts');
    expect(output).toContain('line 1\nline 2\nline 3\nline 4\nline 5\n');
    // Live: lines reached the subscriber while the run was still running.
    const firstLine = arrivals.find((a) => a.text.includes('line 1'));
    expect(firstLine?.state).toBe('running');
    expect(arrivals.length).toBeGreaterThan(2);
    stopWatching();
    await watcher.dispose();
    await client.dispose();
  }, 60_000);

  it('cancelling a run on an agent kills its whole process tree there', async () => {
    const { id, key } = await createAgentHost('agent-cancel');
    spawnAgent(server.url, key);
    await online(id);
    const runId = await startOn(await script('sleep 300 & echo "child $!"; wait'), id);
    const child = await until('the child pid', async () => Number(/child (\d+)/.exec(await storedOutput(runId))?.[1]) || undefined);
    expect(alive(child)).toBe(true);
    const result = await gql(CANCEL, { id: runId });
    expect(result.cancelRun.__typename).toBe('CancelRunSuccess');
    await until('the child to die', () => !alive(child), 10_000);
    expect((await finished(runId)).state).toBe('cancelled');
  }, 60_000);

  it('a disabled host stays connected but gets no runs; enabled again, its agent runs the one waiting', async () => {
    const { id, key } = await createAgentHost('agent-disabled');
    spawnAgent(server.url, key);
    await online(id);
    const setEnabled = (enabled: boolean) => gql(`mutation($input: UpdateHostInput!) { updateHost(input: $input) { __typename } }`, { input: { id: encodeGlobalID('Host', id), enabled } });
    await setEnabled(false);
    const scriptId = await script('echo ran while enabled');
    // Queued before it was disabled (startRun refuses a disabled host), the way a schedule's run waits.
    const [queued] = await insertRuns(server.app.db, [{ scriptId, scriptName: 'disabled', hostId: id, hostName: 'agent-disabled', trigger: 'api', triggeredByUserId: null, triggeredBy: null }]);
    server.execution!.wake();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await run(queued!.id)).state).toBe('queued');
    expect(server.execution!.agents.isConnected(id)).toBe(true);
    await setEnabled(true);
    const row = await finished(queued!.id);
    expect(row.state).toBe('succeeded');
    expect(await storedOutput(queued!.id)).toBe('ran while enabled\n');
  }, 60_000);

  it('loses no output and stores none twice when its connection is cut mid-run, and the run finishes normally', async () => {
    const { id, key } = await createAgentHost('agent-cut');
    const proxy = await startProxy(server.url);
    try {
      const agent = spawnAgent(proxy.url, key);
      await online(id).catch((error: unknown) => {
        throw new Error(`${String(error)}; the agent said:\n${agent.output()}`);
      });
      const lines = 500;
      const runId = await startOn(await script(`i=1; while [ $i -le ${lines} ]; do echo $i; i=$((i+1)); sleep 0.01; done`), id);
      // Every batch the server receives, by number (the server runs in this process).
      const hub = server.execution!.agents;
      const received: number[] = [];
      const output = hub.output.bind(hub);
      hub.output = async (hostId, run, seq, pieces) => {
        if (run === runId) received.push(seq);
        return output(hostId, run, seq, pieces);
      };
      try {
        await until('the run to print', async () => (await storedOutput(runId)).length > 0);
        // Cut every connection a few times while it prints (acknowledgements lost first); the
        // agent reconnects each time.
        for (let cut = 0; cut < 3; cut++) {
          await online(id);
          await new Promise((resolve) => setTimeout(resolve, 200));
          expect((await run(runId)).state, 'still running when cut').toBe('running');
          // The second time the server stays out of reach for a while (less than the host timeout): the agent keeps the output.
          await proxy.cut(300, cut === 1 ? 1_000 : 0);
          await until('the server to notice', () => !hub.isConnected(id));
        }
        const row = await finished(runId, 30_000);
        expect(row.state).toBe('succeeded');
        expect(agent.output(), agent.output()).toMatch(/cannot reach the server/);
        expect(row.exit_code).toBe(0);
        const stored = (await storedOutput(runId)).split('\n').filter(Boolean);
        expect(stored).toEqual(Array.from({ length: lines }, (_, i) => String(i + 1)));
      } finally {
        hub.output = output;
      }
      expect(proxy.cuts).toBe(3);
      // Batches really were sent twice (their acknowledgements lost), and stored once (above).
      expect(received.length).toBeGreaterThan(new Set(received).size);
      expect((await run(runId)).agent_output_seq).toBe(Math.max(...received));
      expect(agent.output().match(/disconnected/g)?.length).toBeGreaterThanOrEqual(3);
      expect(agent.output()).toMatch(/holding 1 run/);
      await online(id);
    } finally {
      await proxy.close();
    }
  }, 60_000);

  it('stores a numbered batch once when it is sent twice, refuses one that skips ahead, and refuses malformed messages (the protocol by hand)', async () => {
    const { id, key } = await createAgentHost('agent-by-hand');
    // wsClient sends connectionParams.apiKey; a host key there counts as the host's.
    const hand = wsClient(server.url, { apiKey: key });
    const ask = async (query: string, variables?: Record<string, unknown>) => {
      const outcome = await runOnce(hand, query, variables);
      if (outcome.closed) throw new Error(`closed: ${outcome.closed.reason}`);
      return outcome;
    };
    const hello = await ask(`mutation { agentHello(hostname: "by-hand", os: "test", agentVersion: "0.0.0") { hostId heartbeatSeconds } }`);
    expect(hello.data.agentHello).toEqual({ hostId: id, heartbeatSeconds: HOST_TIMEOUT_MS / 4000 });
    const messages: any[] = [];
    const stop = hand.subscribe(
      { query: `subscription { agentRuns { kind runId plan limits } }` },
      { next: (result) => messages.push((result.data as any).agentRuns), error: () => undefined, complete: () => undefined },
    );
    await online(id);
    const runId = await startOn(await script('echo never runs here'), id);
    const message = await until('the run plan', () => messages.find((m) => m.runId === runId));
    expect(message.kind).toBe('RUN');
    expect(message.plan.body).toBe('echo never runs here');
    expect(message.limits).toMatchObject({ killGraceMs: 1_000 });

    expect((await ask(`mutation($r: ID!) { agentStarted(runId: $r, pid: 4242) }`, { r: runId })).data.agentStarted).toBe(true);
    await until('running', async () => (await run(runId)).state === 'running');
    const output = `mutation($r: ID!, $seq: Int!, $data: String!) { agentOutput(runId: $r, seq: $seq, pieces: [{ stream: STDOUT, data: $data }]) { seq } }`;
    expect((await ask(output, { r: runId, seq: 1, data: 'one\n' })).data.agentOutput.seq).toBe(1);
    // The same batch again (its acknowledgement was lost): acknowledged, not stored again.
    expect((await ask(output, { r: runId, seq: 1, data: 'one\n' })).data.agentOutput.seq).toBe(1);
    const gap = await ask(output, { r: runId, seq: 3, data: 'three\n' });
    expect(gap.errors?.[0]?.message).toMatch(/came before chunk 2/);
    expect((await ask(output, { r: runId, seq: 2, data: 'two\n' })).data.agentOutput.seq).toBe(2);
    expect((await run(runId)).agent_output_seq).toBe(2);

    const finish = `mutation($r: ID!, $o: AgentOutcomeInput!) { agentFinished(runId: $r, outcome: $o) }`;
    const bad = await ask(finish, { r: runId, o: { state: 'EXPLODED', summary: '', outputBytes: 0, outputTruncated: false } });
    expect(bad.errors?.[0]?.message).toMatch(/EXPLODED/);
    const negative = await ask(finish, { r: runId, o: { state: 'SUCCEEDED', summary: '', outputBytes: -1, outputTruncated: false } });
    expect(negative.errors?.[0]?.message).toMatch(/outcome is malformed: outputBytes/);
    expect((await run(runId)).state).toBe('running'); // nothing half-written
    const other = await ask(`mutation { agentStarted(runId: "00000000-0000-4000-8000-000000000000") }`);
    expect(other.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

    const outcome = { state: 'SUCCEEDED', exitCode: 0, summary: 'exit code 0', outputBytes: 8, outputTruncated: false };
    expect((await ask(finish, { r: runId, o: outcome })).data.agentFinished).toBe(true);
    const row = await finished(runId);
    expect(row.state).toBe('succeeded');
    expect(row.pid).toBe(4242);
    expect(await storedOutput(runId)).toBe('one\ntwo\n');

    // A host key is for the agent operations only.
    const refused = await ask(`{ viewer { role } }`);
    expect(refused.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const hosts = await ask(`{ hosts(first: 1) { edges { node { id } } } }`);
    expect(hosts.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    stop();
    await hand.dispose();
  }, 60_000);

  it('is refused once its key is revoked: the open connection is closed at once, the agent stops its runs and exits with 78', async () => {
    const { id, key } = await createAgentHost('agent-revoked');
    const agent = spawnAgent(server.url, key);
    await online(id);
    const runId = await startOn(await script('sleep 300 & echo "child $!"; wait'), id);
    const child = await until('the child pid', async () => Number(/child (\d+)/.exec(await storedOutput(runId))?.[1]) || undefined);
    const revoked = await gql(`mutation($id: ID!) { revokeHostKey(id: $id) { __typename } }`, { id: encodeGlobalID('Host', id) });
    expect(revoked.revokeHostKey.__typename).toBe('RevokeHostKeySuccess');
    // Well before the 30 s re-check: revoking re-checks that host's connections at once.
    const code = await Promise.race([agent.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 10_000))]);
    expect(code).toBe(78);
    expect(agent.output()).toMatch(/refused this host's key/);
    // It stopped its run's processes before exiting: nothing left behind that nobody reports.
    await until('its run to be stopped', () => !alive(child), 5_000);
    // And the same key cannot connect again.
    const again = spawnAgent(server.url, key);
    expect(await again.exited).toBe(78);
    expect(again.output()).toMatch(/host key is not valid/);
  }, 60_000);

  it('a rotated key stops working: the agent with the old key is refused', async () => {
    const { id, key } = await createAgentHost('agent-rotated');
    const rotated = await gql(`mutation($id: ID!) { rotateHostKey(id: $id) { ... on RotateHostKeySuccess { data { agentKey } } } }`, { id: encodeGlobalID('Host', id) });
    const old = spawnAgent(server.url, key);
    expect(await old.exited).toBe(78);
    spawnAgent(server.url, rotated.rotateHostKey.data.agentKey);
    await online(id);
  }, 60_000);

  it('a host whose agent is killed goes offline after RUNBOARD_HOST_TIMEOUT, and its running run becomes lost', async () => {
    const { id, key } = await createAgentHost('agent-killed');
    const agent = spawnAgent(server.url, key);
    await online(id);
    const runId = await startOn(await script('echo "started $$"; sleep 300'), id);
    await until('the run to be running', async () => (await run(runId)).state === 'running' && (await storedOutput(runId)).includes('started'));
    const group = Number(/started (\d+)/.exec(await storedOutput(runId))![1]);
    const watcher = wsClient(server.url, { apiKey: adminKey });
    const seen: any[] = [];
    watcher.subscribe(
      { query: `subscription { hostUpdated { host { id online lastSeenAt } } }` },
      { next: (result) => seen.push((result.data as any)?.hostUpdated?.host), error: () => undefined, complete: () => undefined },
    );
    await until('the watcher to hear a heartbeat', () => seen.some((h) => h?.id === encodeGlobalID('Host', id) && h.online));
    agent.child.kill('SIGKILL');
    const killedAt = Date.now();
    await agent.exited;
    await until('the host to go offline', async () => !(await host(id)).online, HOST_TIMEOUT_MS * 4);
    // Subscribers were told, with when it was last seen.
    const offline = await until('hostUpdated saying offline', () => seen.find((h) => h?.id === encodeGlobalID('Host', id) && !h.online));
    expect(new Date(offline.lastSeenAt).getTime()).toBeLessThanOrEqual(killedAt + 100);
    await watcher.dispose();
    // Not before the timeout: a brief disconnection must not lose runs.
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(HOST_TIMEOUT_MS - 1_000); // less a heartbeat period
    const row = await finished(runId, HOST_TIMEOUT_MS * 4);
    expect(row.state).toBe('lost');
    expect(row.summary).toMatch(/agent on "agent-killed" was silent/);
    expect(server.execution!.agents.isConnected(id)).toBe(false);
    // Its process group outlived the agent (detached, like the server's own): clean up after the test.
    process.kill(-group, 'SIGKILL');
  }, 60_000);

  it('--register creates its host with the registration key, keeps the key in the key file (0600) and reuses it; a wrong key is refused and audited', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-agent-key-'));
    try {
      const keyFile = path.join(dir, 'agent.key');
      // Registration off: refused (and nothing written).
      const off = spawnAgentWith(['--server', server.url, '--key-file', keyFile, '--register', 'the-registration-key']);
      expect(await off.exited).toBe(78);
      expect(off.output()).toMatch(/registration is disabled/);
      expect(fs.existsSync(keyFile)).toBe(false);

      const set = await gql(`mutation { updateOptions(input: { registration: { enabled: true, psk: "the-registration-key" } }) { __typename ... on Error { message } } }`);
      expect(set.updateOptions.__typename).toBe('UpdateOptionsSuccess');
      const wrong = spawnAgentWith(['--server', server.url, '--key-file', keyFile, '--register', 'not-the-key']);
      expect(await wrong.exited).toBe(78);
      expect(wrong.output()).toMatch(/registration key is not right/);
      const refusedEvent = await server.app.db.selectFrom('events').select('action').where('action', '=', 'host.register_refused').executeTakeFirst();
      expect(refusedEvent).toBeTruthy();

      const first = spawnAgentWith(['--server', server.url, '--key-file', keyFile, '--register', 'the-registration-key']);
      const registered = await until('the registered host', () =>
        server.app.db.selectFrom('hosts').selectAll().where('name', '=', os.hostname()).executeTakeFirst(),
      );
      await online(registered.id);
      expect(fs.statSync(keyFile).mode & 0o777).toBe(0o600);
      const key = fs.readFileSync(keyFile, 'utf8').trim();
      expect(key).toMatch(/^rbh_/);
      expect(first.output()).toMatch(/registered as host/);
      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);

      // Started again: the key file is used, nothing is registered twice.
      const second = spawnAgentWith(['--server', server.url, '--key-file', keyFile, '--register', 'the-registration-key']);
      await until('connected again', () => /connected as host/.test(second.output()));
      expect(second.output()).not.toMatch(/registered as host/);
      expect(fs.readFileSync(keyFile, 'utf8').trim()).toBe(key);
      const named = await server.app.db.selectFrom('hosts').select('id').where('name', '=', os.hostname()).execute();
      expect(named).toHaveLength(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

describe('agents with several instances', () => {
  it('the instance holding the agent’s connection executes its host’s runs, started and cancelled through another instance', async () => {
    if (needsSharedDatabase()) return;
    const database = await createTestDatabase();
    const a = await startTestServer(executing({ hostTimeoutMs: HOST_TIMEOUT_MS }), database);
    const b = await startTestServer(executing({ hostTimeoutMs: HOST_TIMEOUT_MS }), database);
    try {
      const viaB = async (query: string, variables: Record<string, unknown>) => (await b.gql(query, variables, { cookie: b.adminCookie })).data;
      const created = await viaB(`mutation { createHost(input: { name: "agent-on-a" }) { ... on CreateHostSuccess { data { agentKey host { id } } } } }`, {});
      const hostId = decodeId('Host', created.createHost.data.host.id);
      spawnAgent(a.url, created.createHost.data.agentKey);
      await until('connected to A', () => a.execution!.agents.isConnected(hostId));
      expect(b.execution!.agents.isConnected(hostId)).toBe(false);
      const scriptRow = await a.app.db
        .insertInto('scripts')
        .values({ name: 'two-instances', executable: '/bin/sh', body: 'sleep 300 & echo "child $!"; wait' } as never)
        .returning('id')
        .executeTakeFirstOrThrow();
      const started = await viaB(START, { input: { scriptId: encodeGlobalID('Script', scriptRow.id), hostId: encodeGlobalID('Host', hostId) } });
      const runId = decodeId('Run', started.startRun.data[0].id);
      const output = async () => (await a.app.db.selectFrom('run_output').select('data').where('run_id', '=', runId).execute()).map((c) => c.data).join('');
      const child = await until('the child pid', async () => Number(/child (\d+)/.exec(await output())?.[1]) || undefined);
      const row = await a.app.db.selectFrom('runs').selectAll().where('id', '=', runId).executeTakeFirstOrThrow();
      expect(row.instance_id).toBe(a.execution!.instanceId);
      expect((await viaB(CANCEL, { id: runId })).cancelRun.__typename).toBe('CancelRunSuccess');
      await until('the child to die', () => !alive(child), 10_000);
    } finally {
      for (const agent of agents.splice(0)) {
        agent.child.kill('SIGKILL');
        await agent.exited;
      }
      await b.stop();
      await a.stop();
      await database.drop();
    }
  }, 60_000);

  it('an agent that comes back to another instance mid-run reports its run there: it finishes normally, all its output stored once', async () => {
    if (needsSharedDatabase()) return;
    const database = await createTestDatabase();
    const a = await startTestServer(executing({ hostTimeoutMs: HOST_TIMEOUT_MS }), database);
    const b = await startTestServer(executing({ hostTimeoutMs: HOST_TIMEOUT_MS }), database);
    let target = a.url;
    const proxy = await startProxy(() => target);
    try {
      const created = await a.gql(`mutation { createHost(input: { name: "agent-moves" }) { ... on CreateHostSuccess { data { agentKey host { id } } } } }`, {}, { cookie: a.adminCookie });
      const hostId = decodeId('Host', created.data.createHost.data.host.id);
      spawnAgent(proxy.url, created.data.createHost.data.agentKey);
      await until('connected to A', () => a.execution!.agents.isConnected(hostId));
      const lines = 600;
      const scriptRow = await a.app.db
        .insertInto('scripts')
        .values({ name: 'moves', executable: '/bin/sh', body: `i=1; while [ $i -le ${lines} ]; do echo $i; i=$((i+1)); sleep 0.01; done` } as never)
        .returning('id')
        .executeTakeFirstOrThrow();
      const started = await a.gql(START, { input: { scriptId: encodeGlobalID('Script', scriptRow.id), hostId: encodeGlobalID('Host', hostId) } }, { cookie: a.adminCookie });
      const runId = decodeId('Run', started.data.startRun.data[0].id);
      const runRow = () => a.app.db.selectFrom('runs').selectAll().where('id', '=', runId).executeTakeFirstOrThrow();
      await until('running on A', async () => (await runRow()).state === 'running');
      await new Promise((resolve) => setTimeout(resolve, 500));
      // The load balancer now sends the agent to B.
      target = b.url;
      await proxy.cut(200);
      await until('connected to B', () => b.execution!.agents.isConnected(hostId));
      const row = await until('the run to finish', async () => {
        const current = await runRow();
        return current.finished_at ? current : undefined;
      }, 40_000);
      expect(row.state).toBe('succeeded');
      expect(row.exit_code).toBe(0);
      const stored = (await a.app.db.selectFrom('run_output').select('data').where('run_id', '=', runId).orderBy('seq').execute()).map((c) => c.data).join('');
      expect(stored.split('\n').filter(Boolean)).toEqual(Array.from({ length: lines }, (_, i) => String(i + 1)));
      // A, which dispatched it, does not call it lost later, and lets the run go.
      await until('A to let the run go', () => a.execution!.agents.pendingRuns(hostId) === 0, HOST_TIMEOUT_MS * 3);
      expect(a.execution!.agents.isConnected(hostId)).toBe(false);
      expect((await runRow()).state).toBe('succeeded');
      // And the host stays online: B hears it.
      expect((await a.app.db.selectFrom('hosts').select('online').where('id', '=', hostId).executeTakeFirstOrThrow()).online).toBe(true);
    } finally {
      for (const agent of agents.splice(0)) {
        agent.child.kill('SIGKILL');
        await agent.exited;
      }
      await proxy.close();
      await b.stop();
      await a.stop();
      await database.drop();
    }
  }, 90_000);
});
