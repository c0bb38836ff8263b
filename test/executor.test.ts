/**
 * The local executor with real processes (no database): environment, directories, attachments,
 * bodies and steps, exit statuses, killing whole process trees on timeout and cancel, output
 * order, batching, cap, masking and memory, run-as, and the built-in job types.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MASK } from '../core/secrets';
import type { ExecuteOptions, ExecutionPlan, OutputPiece, PlannedAttachment } from '../jobs/execution';
import { executeLocally } from '../jobs/local-executor';

const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const isRoot = process.getuid?.() === 0;

function memorySink(delayMs = 0) {
  const writes: { at: number; pieces: OutputPiece[] }[] = [];
  return {
    writes,
    sink: {
      async write(pieces: OutputPiece[]) {
        writes.push({ at: Date.now(), pieces: pieces.map((piece) => ({ ...piece })) });
        if (delayMs > 0) await sleep(delayMs);
      },
    },
    /** All pieces, consecutive ones of a stream merged (how a reader sees them). */
    pieces(): OutputPiece[] {
      const merged: OutputPiece[] = [];
      for (const piece of writes.flatMap((write) => write.pieces)) {
        const last = merged.at(-1);
        if (last?.stream === piece.stream) last.data += piece.data;
        else merged.push({ ...piece });
      }
      return merged;
    },
    text(stream?: OutputPiece['stream']): string {
      return writes
        .flatMap((write) => write.pieces)
        .filter((piece) => !stream || piece.stream === stream)
        .map((piece) => piece.data)
        .join('');
    },
  };
}

type ScriptPlan = ExecutionPlan & { kind: 'script' };
const common = () => ({
  runId: randomUUID(),
  env: { PATH },
  secrets: [] as string[],
  workingDir: null as string | null,
  runAsUid: null as number | null,
  runAsGid: null as number | null,
  timeoutMs: 60_000 as number | null,
  attachments: [] as PlannedAttachment[],
});

function script(body: string, overrides: Partial<ScriptPlan> = {}): ScriptPlan {
  return { ...common(), kind: 'script', executable: '', body, steps: [], stopOnFirstFailure: true, ...overrides };
}

async function execute(plan: ExecutionPlan, options: Partial<ExecuteOptions> & { sinkDelayMs?: number } = {}) {
  const output = memorySink(options.sinkDelayMs);
  const starts: (number | null)[] = [];
  const outcome = await executeLocally(plan, {
    sink: output.sink,
    signal: new AbortController().signal,
    onStart: (pid) => starts.push(pid),
    ...options,
  });
  return { outcome, output, starts, finishedAt: Date.now() };
}

/** Dead: no such process, or a zombie (an init that reaps lazily keeps those around a while). */
function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').startsWith('Z');
  } catch {
    return true;
  }
}

async function allGone(pids: number[]): Promise<boolean> {
  for (let waited = 0; waited < 10_000; waited += 100) {
    if (pids.every(isGone)) return true;
    await sleep(100);
  }
  return false;
}

const pidsIn = (text: string) => [...text.matchAll(/pid (\d+)/g)].map((match) => Number(match[1]));

let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'runboard-executor-test-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('environment and directories', () => {
  it('gives the program exactly the plan environment, nothing of the server', async () => {
    process.env.RUNBOARD_EXECUTOR_LEAK = 'must not leak';
    const { outcome, output } = await execute({ ...common(), env: { PATH, GREETING: 'hello world' }, kind: 'command', args: ['/usr/bin/env'] });
    expect(outcome).toMatchObject({ state: 'succeeded', exitCode: 0, summary: 'exit code 0', result: { returncode: 0 } });
    expect(output.text('stdout').trim().split('\n').sort()).toEqual(['GREETING=hello world', `PATH=${PATH}`]);
  });

  it('runs in the plan working directory', async () => {
    const { outcome, output } = await execute({ ...common(), workingDir: scratch, kind: 'command', args: ['/bin/pwd'] });
    expect(outcome.state).toBe('succeeded');
    expect(output.text('stdout')).toBe(`${realpathSync(scratch)}\n`);
  });

  it('fails when the working directory does not exist', async () => {
    const { outcome, output, starts } = await execute(script('#!/bin/sh\necho never', { workingDir: '/nonexistent/runboard' }));
    expect(outcome).toMatchObject({ state: 'failed', summary: 'working directory /nonexistent/runboard does not exist' });
    expect(output.pieces()).toEqual([{ stream: 'system', data: 'working directory /nonexistent/runboard does not exist\n' }]);
    expect(starts).toEqual([]);
  });

  it('makes a temporary working directory and a private body file, and removes both', async () => {
    const { outcome, output } = await execute(script('pwd\necho "$0"', { executable: '/bin/sh' }));
    expect(outcome.state).toBe('succeeded');
    const [cwd, bodyFile] = output.text('stdout').trim().split('\n') as [string, string];
    expect(path.basename(cwd)).toMatch(/^runboard-run-[0-9a-f]{8}-/);
    expect(path.dirname(bodyFile)).not.toBe(cwd);
    expect(path.basename(path.dirname(bodyFile))).toMatch(/^runboard-body-/);
    expect(existsSync(cwd)).toBe(false);
    expect(existsSync(bodyFile)).toBe(false);
  });

  it('writes attachments first: content, mode, relative and absolute paths', async () => {
    const absolute = path.join(scratch, 'absolute', 'deep', 'settings.json');
    const attachments: PlannedAttachment[] = [
      { path: 'conf/app.ini', mode: 0o640, uid: null, gid: null, content: Buffer.from('[app]\nname=runboard\n') },
      { path: absolute, mode: 0o755, uid: null, gid: null, content: Buffer.from('{}') },
    ];
    const body = '#!/bin/sh\ncat conf/app.ini\nstat -c %a conf/app.ini\n';
    const { outcome, output } = await execute(script(body, { attachments }));
    expect(outcome.state).toBe('succeeded');
    expect(output.text('stdout')).toBe('[app]\nname=runboard\n640\n');
    expect(readFileSync(absolute, 'utf8')).toBe('{}');
    expect(statSync(absolute).mode & 0o777).toBe(0o755);
  });

  it('fails with the path of an attachment it cannot write', async () => {
    const attachments: PlannedAttachment[] = [
      { path: 'plain', mode: 0o644, uid: null, gid: null, content: Buffer.from('a file') },
      { path: 'plain/inside', mode: 0o644, uid: null, gid: null, content: Buffer.from('cannot be') },
    ];
    const { outcome, starts } = await execute(script('#!/bin/sh\necho never', { attachments, workingDir: scratch }));
    expect(outcome.state).toBe('failed');
    expect(outcome.summary).toContain(`could not write the attachment ${path.join(scratch, 'plain/inside')}`);
    expect(starts).toEqual([]);
  });
});

describe('bodies, steps and exit statuses', () => {
  it('gives the body file to the executable (split on whitespace) and reports its exit code', async () => {
    const { outcome, output, starts } = await execute(script('echo "from $0"; exit 3', { executable: '/usr/bin/env sh' }));
    expect(outcome).toMatchObject({ state: 'failed', exitCode: 3, summary: 'exit code 3', outputBytes: output.text().length });
    expect(output.text('stdout')).toMatch(/^from \/.*\/script\n$/);
    expect(starts).toHaveLength(1);
    expect(starts[0]).toBeTypeOf('number');
  });

  it('runs a body with a #! line by itself', async () => {
    const { outcome, output } = await execute(script('#!/bin/sh\necho "shebang $#"'));
    expect(outcome).toMatchObject({ state: 'succeeded', exitCode: 0, summary: 'exit code 0' });
    expect(output.text('stdout')).toBe('shebang 0\n');
  });

  const steps = [
    { name: 'prepare', executable: '/bin/sh', args: ['-c', 'echo one'], body: null },
    { name: 'build', executable: '/bin/sh', args: [], body: 'echo two; exit 1' },
    { name: null, executable: '/bin/echo', args: ['three'], body: null },
  ];

  it('runs steps in order and stops at the first failure', async () => {
    const { outcome, output, starts } = await execute(script('', { steps, stopOnFirstFailure: true }));
    expect(outcome).toMatchObject({ state: 'failed', exitCode: 1, summary: 'step 2 of 3 ("build") failed with exit code 1' });
    expect(output.pieces()).toEqual([
      { stream: 'system', data: 'Step 1/3: prepare\n' },
      { stream: 'stdout', data: 'one\n' },
      { stream: 'system', data: 'Step 2/3: build\n' },
      { stream: 'stdout', data: 'two\n' },
    ]);
    expect(starts).toHaveLength(1);
  });

  it('runs every step when told not to stop, and still fails', async () => {
    const { outcome, output } = await execute(script('', { steps, stopOnFirstFailure: false }));
    expect(outcome).toMatchObject({ state: 'failed', exitCode: 1, summary: 'step 2 of 3 ("build") failed with exit code 1' });
    expect(output.text()).toBe('Step 1/3: prepare\none\nStep 2/3: build\ntwo\nStep 3/3: /bin/echo three\nthree\n');
  });

  it('succeeds when every step does', async () => {
    const { outcome } = await execute(script('', { steps: [steps[0]!, steps[2]!] }));
    expect(outcome).toMatchObject({ state: 'succeeded', exitCode: 0, summary: 'all 2 steps succeeded' });
  });

  it('reports a death by signal', async () => {
    const { outcome } = await execute(script('#!/bin/sh\nkill -SEGV $$'));
    expect(outcome).toMatchObject({ state: 'failed', exitCode: null, summary: 'killed by SIGSEGV' });
  });

  it('names a program that cannot be started, in the summary and the output', async () => {
    const { outcome, output, starts } = await execute({ ...common(), kind: 'command', args: ['/nonexistent/tool', '-v'] });
    expect(outcome).toMatchObject({ state: 'failed', exitCode: null, summary: 'cannot run "/nonexistent/tool": not found (ENOENT)' });
    expect(outcome.result).toEqual({ returncode: null });
    expect(output.pieces()).toEqual([{ stream: 'system', data: 'cannot run "/nonexistent/tool": not found (ENOENT)\n' }]);
    expect(starts).toEqual([]);

    const step = await execute(script('', { steps: [{ name: 'lint', executable: 'no-such-linter', args: [], body: null }] }));
    expect(step.outcome.summary).toBe('step 1 of 1 ("lint") could not start: cannot run "no-such-linter": not found (ENOENT)');
  });

  it('refuses command arguments that are not strings', async () => {
    const { outcome } = await execute({ ...common(), kind: 'command', args: ['/bin/echo', 42 as unknown as string] });
    expect(outcome).toMatchObject({ state: 'failed', summary: 'command job: argument 2 is 42; every argument must be a string' });
  });
});

describe('stopping whole process trees', () => {
  // main → child (ignores SIGTERM) → grandchild (ignores SIGTERM, exec'd sleep); each prints its pid.
  const tree: PlannedAttachment[] = [
    { path: 'child.sh', mode: 0o755, uid: null, gid: null, content: Buffer.from('#!/bin/sh\ntrap "" TERM\necho "pid $$"\n./grandchild.sh &\nwait\n') },
    { path: 'grandchild.sh', mode: 0o755, uid: null, gid: null, content: Buffer.from('#!/bin/sh\ntrap "" TERM\necho "pid $$"\nexec sleep 300\n') },
  ];
  const main = (ignoreTerm: boolean) => `#!/bin/sh\n${ignoreTerm ? 'trap "" TERM\n' : ''}echo "pid $$"\n./child.sh &\nwait\n`;

  it('kills the tree on timeout, including children that ignore SIGTERM', async () => {
    const started = Date.now();
    const { outcome, output } = await execute(script(main(false), { attachments: tree, timeoutMs: 3000 }));
    expect(outcome).toMatchObject({ state: 'timed_out', summary: 'killed after the 3 s timeout' });
    const pids = pidsIn(output.text('stdout'));
    expect(pids).toHaveLength(3);
    expect(await allGone(pids)).toBe(true);
    expect(Date.now() - started).toBeLessThan(20_000); // not the 5 s grace: the main process died on SIGTERM
  });

  it('sends SIGKILL after the grace period when even the main process ignores SIGTERM', async () => {
    const started = Date.now();
    const { outcome, output } = await execute(script(main(true), { attachments: tree, timeoutMs: 2000 }), { killGraceMs: 1500 });
    expect(outcome).toMatchObject({ state: 'timed_out', summary: 'killed after the 2 s timeout' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(3400);
    expect(await allGone(pidsIn(output.text('stdout')))).toBe(true);
  });

  it('kills the tree on cancel', async () => {
    const controller = new AbortController();
    const output = memorySink();
    const running = executeLocally(script(main(false), { attachments: tree, timeoutMs: null }), {
      sink: output.sink,
      signal: controller.signal,
      flushMs: 10,
    });
    for (let waited = 0; pidsIn(output.text()).length < 3 && waited < 20_000; waited += 50) await sleep(50);
    controller.abort();
    const outcome = await running;
    expect(outcome).toMatchObject({ state: 'cancelled', summary: 'cancelled' });
    const pids = pidsIn(output.text('stdout'));
    expect(pids).toHaveLength(3);
    expect(await allGone(pids)).toBe(true);
  });

  it('kills what the main process leaves behind when it exits', async () => {
    const quiet = await execute(script('#!/bin/sh\nsleep 300 >/dev/null 2>&1 &\necho "pid $!"\n'));
    expect(quiet.outcome.state).toBe('succeeded');
    // Holding our stdout open, it would also keep the run from ending.
    const started = Date.now();
    const holding = await execute(script('#!/bin/sh\nsleep 300 &\necho "pid $!"\n'));
    expect(holding.outcome.state).toBe('succeeded');
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(await allGone([...pidsIn(quiet.output.text()), ...pidsIn(holding.output.text())])).toBe(true);
  });

  it('leaves a daemon alone when the script starts it in a session of its own', async () => {
    // (The pause gives setsid time to leave the group before the main process exits.)
    const { outcome, output } = await execute(script('#!/bin/sh\nsetsid sleep 300 >/dev/null 2>&1 < /dev/null &\necho "pid $!"\nsleep 0.5\n'));
    expect(outcome.state).toBe('succeeded');
    const [pid] = pidsIn(output.text());
    await sleep(300);
    expect(isGone(pid!)).toBe(false);
    process.kill(pid!, 'SIGKILL');
  });
});

describe('output', () => {
  it('keeps stdout and stderr pieces in the order they were printed', async () => {
    const body = '#!/bin/sh\necho out1\nsleep 0.3\necho err1 >&2\nsleep 0.3\necho out2\necho out3\n';
    const { output } = await execute(script(body));
    expect(output.pieces()).toEqual([
      { stream: 'stdout', data: 'out1\n' },
      { stream: 'stderr', data: 'err1\n' },
      { stream: 'stdout', data: 'out2\nout3\n' },
    ]);
  });

  it('streams a slow printer while it runs, in several flushes', async () => {
    const { output, finishedAt } = await execute(script('#!/bin/sh\necho first\nsleep 1.5\necho second\n'), { flushMs: 50 });
    expect(output.writes.length).toBeGreaterThanOrEqual(2);
    expect(output.writes[0]!.pieces).toEqual([{ stream: 'stdout', data: 'first\n' }]);
    expect(finishedAt - output.writes[0]!.at).toBeGreaterThan(700);
  });

  it('flushes at 64 KiB without waiting for the timer', async () => {
    const body = "#!/bin/sh\nhead -c 200000 /dev/zero | tr '\\0' x\nsleep 2\n";
    const { outcome, output, finishedAt } = await execute(script(body), { flushMs: 60_000 });
    expect(outcome.outputBytes).toBe(200_000);
    const early = output.writes.filter((write) => finishedAt - write.at > 1000);
    expect(early.length).toBeGreaterThanOrEqual(3);
    for (const write of output.writes) expect(write.pieces.reduce((sum, piece) => sum + piece.data.length, 0)).toBeLessThanOrEqual(64 * 1024);
  });

  it('caps output with a marker while the script runs on and keeps its exit code', async () => {
    const body = "#!/bin/sh\nhead -c 1000000 /dev/zero | tr '\\0' y\necho late >&2\necho finished > finished.txt\nexit 3\n";
    const dir = await mkdtemp(path.join(scratch, 'cap-'));
    const { outcome, output } = await execute(script(body, { workingDir: dir }), { outputCapBytes: 96 * 1024 });
    const marker = "\n[Runboard: output truncated at 96 KiB; the rest of this run's output is dropped]\n";
    expect(outcome).toMatchObject({ state: 'failed', exitCode: 3, summary: 'exit code 3', outputTruncated: true });
    expect(outcome.outputBytes).toBe(96 * 1024 + marker.length);
    expect(output.pieces()).toEqual([
      { stream: 'stdout', data: 'y'.repeat(96 * 1024) },
      { stream: 'system', data: marker },
    ]);
    expect(readFileSync(path.join(dir, 'finished.txt'), 'utf8')).toBe('finished\n'); // it was never blocked
  });

  it('masks secrets, also across reads and flushes, and ignores empty ones', async () => {
    const body = [
      '#!/bin/sh',
      "printf 'token: s3cr'",
      'sleep 0.4',
      "printf '3t-value!\\n'",
      'i=0',
      'while [ $i -lt 6000 ]; do printf "xx s3cr3t-value "; i=$((i+1)); done',
      'echo "$API_TOKEN" >&2',
    ].join('\n');
    const { output } = await execute(script(body, { secrets: ['s3cr3t-value', ''], env: { PATH, API_TOKEN: 's3cr3t-value' } }), { flushMs: 10 });
    const text = output.text();
    expect(text).not.toContain('s3cr');
    expect(text.startsWith(`token: ${MASK}!\nxx ${MASK} xx`)).toBe(true);
    expect(text.split(MASK)).toHaveLength(6003);
    expect(output.text('stderr')).toBe(`${MASK}\n`);
  });

  it('keeps a UTF-8 character whole when its bytes arrive in two reads', async () => {
    const { output } = await execute(script("#!/bin/sh\nprintf '\\342\\202'\nsleep 0.3\nprintf '\\254\\n'\n"), { flushMs: 10 });
    expect(output.text()).toBe('€\n');
  });

  it('keeps memory bounded when a script prints 200 MB into a slow sink', { timeout: 180_000 }, async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const live = () => {
      const usage = process.memoryUsage();
      return usage.heapUsed + usage.arrayBuffers;
    };
    const baseline = live();
    let worst = 0;
    const sampler = setInterval(() => {
      gc();
      worst = Math.max(worst, live() - baseline);
    }, 250);
    try {
      const body = "#!/bin/sh\nhead -c 200000000 /dev/zero | tr '\\0' z\n";
      // The sink takes ~1 ms per 64 KiB (about 60 MB/s): far slower than the script prints.
      let received = 0;
      const sink = {
        async write(pieces: OutputPiece[]) {
          for (const piece of pieces) received += piece.data.length;
          await sleep(1);
        },
      };
      const outcome = await executeLocally(script(body), { sink, signal: new AbortController().signal, outputCapBytes: 1024 ** 3 });
      expect(outcome).toMatchObject({ state: 'succeeded', outputBytes: 200_000_000, outputTruncated: false });
      expect(received).toBe(200_000_000);
    } finally {
      clearInterval(sampler);
    }
    expect(worst).toBeLessThan(48 * 1024 * 1024);
  });
});

describe('run-as', () => {
  it.skipIf(!isRoot)('runs as uid 65534 with its primary group, in a working directory it may use', async () => {
    const attachments: PlannedAttachment[] = [{ path: 'mine.txt', mode: 0o600, uid: null, gid: null, content: Buffer.from('private') }];
    const body = '#!/bin/sh\nid -u\nid -g\ncat mine.txt && echo\ntouch made-here && echo touched\n';
    const { outcome, output } = await execute(script(body, { runAsUid: 65534, attachments }));
    expect(output.text()).toBe('65534\n65534\nprivate\ntouched\n');
    expect(outcome.state).toBe('succeeded');
  });

  // Root can switch users, so only an unprivileged test process can see the refusal.
  it.skipIf(isRoot)('refuses another uid when not root, before running anything (skipped as root: root may switch)', async () => {
    const { outcome, starts } = await execute(script('#!/bin/sh\necho never', { runAsUid: (process.getuid?.() ?? 0) + 1 }));
    expect(outcome.state).toBe('failed');
    expect(outcome.summary).toMatch(/^cannot run as uid \d+: Runboard runs as uid \d+, and only root can switch users$/);
    expect(starts).toEqual([]);
  });
});

describe('built-in jobs', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        if (request.url === '/ok') response.end('hello, token=T0KEN-123');
        else if (request.url === '/fail') response.writeHead(500).end('boom');
        else if (request.url === '/echo') response.end(`${request.method} ${body}`);
        // '/hang': never answers
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const http = (args: unknown[], overrides: Partial<ExecutionPlan> = {}) => ({ ...common(), ...overrides, kind: 'http' as const, args });

  it('http: 2xx succeeds, with the status line and the body as output and the body as result', async () => {
    const { outcome, output, starts } = await execute(http([`${base}/ok`], { secrets: ['T0KEN-123'] }));
    expect(outcome).toMatchObject({ state: 'succeeded', summary: 'HTTP 200 OK', result: `hello, token=${MASK}` });
    expect(output.text('stdout')).toBe(`HTTP 200 OK\nhello, token=${MASK}`);
    expect(starts).toEqual([null]);
  });

  it('http: sends the method and body', async () => {
    const { outcome } = await execute(http([`${base}/echo`, 'post', 'payload']));
    expect(outcome).toMatchObject({ state: 'succeeded', result: 'POST payload' });
  });

  it('http: a 500 fails', async () => {
    const { outcome, output } = await execute(http([`${base}/fail`]));
    expect(outcome).toMatchObject({ state: 'failed', summary: 'HTTP 500 Internal Server Error', result: 'boom' });
    expect(output.text('stdout')).toBe('HTTP 500 Internal Server Error\nboom');
  });

  it('http: refuses a bad URL or arguments without trying', async () => {
    const ftp = await execute(http(['ftp://example.com/file']));
    expect(ftp.outcome).toMatchObject({ state: 'failed', summary: 'http job: "ftp://example.com/file" is not an http:// or https:// URL' });
    expect(ftp.starts).toEqual([]);
    expect((await execute(http(['not a url']))).outcome.summary).toBe('http job: "not a url" is not a URL');
    expect((await execute(http([42]))).outcome.summary).toBe('http job: give the URL to request as its first argument');
    expect((await execute(http([`${base}/ok`, 'GET', 'body']))).outcome.summary).toBe('http job: a GET request cannot have a body');
  });

  it('http: says why a request failed', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const { outcome } = await execute(http([`http://127.0.0.1:${port}/`]));
    expect(outcome.state).toBe('failed');
    expect(outcome.summary).toContain(`GET http://127.0.0.1:${port}/ failed:`);
    expect(outcome.summary).toContain('ECONNREFUSED');
  });

  it('http: times out, and can be cancelled', async () => {
    const slow = await execute(http([`${base}/hang`], { timeoutMs: 500 }));
    expect(slow.outcome).toMatchObject({ state: 'timed_out', summary: 'request stopped after the 500 ms timeout' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const cancelled = await execute(http([`${base}/hang`]), { signal: controller.signal });
    expect(cancelled.outcome).toMatchObject({ state: 'cancelled', summary: 'cancelled' });
  });

  it('noop: succeeds at once with its arguments as result', async () => {
    const { outcome, output, starts } = await execute({ ...common(), kind: 'noop', args: [1, 'two', { three: 3 }] });
    expect(outcome).toEqual({
      state: 'succeeded',
      exitCode: null,
      summary: 'no-op',
      result: [1, 'two', { three: 3 }],
      outputBytes: 0,
      outputTruncated: false,
    });
    expect(output.writes).toEqual([]);
    expect(starts).toEqual([null]);
  });
});
