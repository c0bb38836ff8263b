/**
 * The agent protocol in GraphQL: what `runboard agent` speaks over graphql-ws with its host key
 * (graphql/ws.ts makes such a caller `ctx.agent`; these fields are the only ones it may use, and
 * nobody else may use them). The order of a session:
 *
 * 1. `agentHello` — who it is, and the runs it still holds from before a reconnection;
 * 2. `agentRuns` — a stream of run plans and cancels for its host;
 * 3. per run: `agentStarted`, `agentOutput` batches numbered 1, 2, 3… (each acknowledged; a number
 *    already stored is acknowledged and not stored again), then `agentFinished`;
 * 4. `agentHeartbeat` every `heartbeatSeconds`, so a silent agent can be told from a quiet one.
 *
 * The transport-level work lives in jobs/agent-link.ts; plans and outcomes cross as JSON checked
 * by jobs/agent-protocol.ts.
 */
import { ConflictError, ValidationError } from '../core/errors';
import { MAX_PIECE_CHARS, MAX_PIECES, outcomeFromWire, planToWire, type AgentMessage } from '../jobs/agent-protocol';
import type { AgentHub } from '../jobs/agent-link';
import { builder } from './builder';
import type { Context } from './context';
import { decodeId, decodeIds } from './ids';
import { OutputStreamEnum } from './run-output';

/** The root fields an agent may use (graphql/ws.ts refuses every other one to a host key). */
export const AGENT_OPERATIONS: ReadonlySet<string> = new Set(['agentHello', 'agentHeartbeat', 'agentRuns', 'agentOutput', 'agentStarted', 'agentFinished']);

const AGENT_TEXT_MAX = 1024;
/** Runs an agent may say it holds (far more than RUNBOARD_MAX_PARALLEL_RUNS allows it). */
const MAX_HELD_RUNS = 100_000;

type AgentContext = Context & { agent: { hostId: string } };

function hub(ctx: Context): AgentHub {
  if (!ctx.app.agents) throw new ConflictError('This Runboard instance does not execute runs (RUNBOARD_EXECUTE=false): connect the agent to one that does.');
  return ctx.app.agents;
}

function text(value: string, field: string): string {
  if (value.length > AGENT_TEXT_MAX || value.includes('\0')) {
    throw new ValidationError(`${field} is at most ${AGENT_TEXT_MAX} characters, without NUL.`, [{ path: [field], message: `At most ${AGENT_TEXT_MAX} characters.` }]);
  }
  return value;
}

const agentField = { skipTypeScopes: true, authScopes: { agent: true } } as const;

const AgentHelloRef = builder.objectRef<{ hostId: string; heartbeatSeconds: number }>('AgentHello').implement({
  description: 'What the server tells an agent that said hello.',
  fields: (t) => ({
    hostId: t.exposeID('hostId', { description: "The agent's host (its UUID)." }),
    heartbeatSeconds: t.exposeFloat('heartbeatSeconds', { description: 'Send `agentHeartbeat` this often; silent for RUNBOARD_HOST_TIMEOUT, the host is offline.' }),
  }),
});

const AgentOutputPieceInput = builder.inputType('AgentOutputPiece', {
  description: 'A piece of output, as the agent read it (already masked).',
  fields: (t) => ({
    stream: t.field({ type: OutputStreamEnum, required: true, description: 'Where it came from.' }),
    data: t.string({ required: true, description: `The text, at most ${MAX_PIECE_CHARS.toLocaleString('en')} characters.` }),
  }),
});

const AgentOutputAckRef = builder.objectRef<{ runId: string; seq: number }>('AgentOutputAck').implement({
  description: 'The server has stored (or had already stored) this batch of output.',
  fields: (t) => ({
    runId: t.exposeID('runId', { description: 'The run.' }),
    seq: t.exposeInt('seq', { description: 'The number of the batch acknowledged.' }),
  }),
});

const AgentMessageKindEnum = builder.enumType('AgentMessageKind', {
  description: 'What the server asks of an agent.',
  values: {
    RUN: { value: 'run', description: 'Execute `plan`.' },
    CANCEL: { value: 'cancel', description: "Stop the run's process tree (SIGTERM, then SIGKILL after the grace)." },
  } as const,
});

const AgentMessageRef = builder.objectRef<AgentMessage>('AgentMessage').implement({
  description: 'A run for the agent to execute, or one to stop.',
  fields: (t) => ({
    kind: t.field({ type: AgentMessageKindEnum, description: 'What to do.', resolve: (message) => message.kind }),
    runId: t.exposeID('runId', { description: 'The run (its UUID).' }),
    plan: t.field({
      type: 'JSON',
      nullable: true,
      description: 'RUN: the execution plan (script, merged environment with secrets opened, attachments as base64). Null for CANCEL.',
      resolve: (message) => (message.kind === 'run' ? planToWire(message.plan) : null),
    }),
    limits: t.field({
      type: 'JSON',
      nullable: true,
      description: 'RUN: `{ killGraceMs, outputCapBytes, flushMs }`, as the server would execute it. Null for CANCEL.',
      resolve: (message) => (message.kind === 'run' ? message.limits : null),
    }),
  }),
});

const AgentOutcomeStateEnum = builder.enumType('AgentOutcomeState', {
  description: 'How a run ended on the agent (whether it was lost is for the server to say).',
  values: {
    SUCCEEDED: { value: 'succeeded', description: 'It succeeded.' },
    FAILED: { value: 'failed', description: 'It failed (exit code, signal, or could not start).' },
    TIMED_OUT: { value: 'timed_out', description: 'Its timeout ran out.' },
    CANCELLED: { value: 'cancelled', description: 'It was cancelled.' },
  } as const,
});

const AgentOutcomeInput = builder.inputType('AgentOutcomeInput', {
  description: 'How a run ended, as the agent saw it.',
  fields: (t) => ({
    state: t.field({ type: AgentOutcomeStateEnum, required: true, description: 'How it ended.' }),
    exitCode: t.int({ description: 'The exit code of its last program; null when there was none.' }),
    summary: t.string({ required: true, description: 'One line a person can read, at most 10,000 characters.' }),
    result: t.field({ type: 'JSON', description: "A built-in job's result." }),
    outputBytes: t.int({ required: true, description: 'Output produced, in bytes (after masking, up to the cap).' }),
    outputTruncated: t.boolean({ required: true, description: 'Whether output was dropped after the cap.' }),
  }),
});

builder.mutationFields((t) => ({
  agentHello: t.field({
    ...agentField,
    type: AgentHelloRef,
    description: 'Agents only: announces the agent (on every connection). Its host is online and gets runs; runs it started and no longer holds are lost.',
    args: {
      hostname: t.arg.string({ required: true, description: 'The hostname of its machine.' }),
      os: t.arg.string({ required: true, description: 'Its operating system (e.g. `uname -a`).' }),
      agentVersion: t.arg.string({ required: true, description: 'The Runboard version of the agent.' }),
      runIds: t.arg.idList({ description: 'Runs it still holds (executing, or with output or an outcome to deliver). Default none.' }),
    },
    resolve: async (_root, args, ctx) => {
      const { hostId } = (ctx as AgentContext).agent;
      if ((args.runIds?.length ?? 0) > MAX_HELD_RUNS) throw new ValidationError(`runIds: at most ${MAX_HELD_RUNS} runs.`, [{ path: ['runIds'], message: 'Too many.' }]);
      const held = decodeIds('Run', args.runIds ?? [], 'runIds');
      await hub(ctx).hello(hostId, { hostname: text(args.hostname, 'hostname'), os: text(args.os, 'os'), agentVersion: text(args.agentVersion, 'agentVersion') }, held);
      return { hostId, heartbeatSeconds: hub(ctx).heartbeatMs / 1000 };
    },
  }),
  agentHeartbeat: t.boolean({
    ...agentField,
    description: 'Agents only: the agent is alive (its host stays online, last seen now).',
    resolve: async (_root, _args, ctx) => {
      await hub(ctx).heartbeat((ctx as AgentContext).agent.hostId);
      return true;
    },
  }),
  agentOutput: t.field({
    ...agentField,
    type: AgentOutputAckRef,
    description: "Agents only: stores batch `seq` of a run's output (1, 2, 3…). A batch already stored is acknowledged and not stored again; one that skips ahead is refused.",
    args: {
      runId: t.arg.id({ required: true, description: 'The run.' }),
      seq: t.arg.int({ required: true, description: "The batch's number: 1 for the first of the run." }),
      pieces: t.arg({ type: [AgentOutputPieceInput], required: true, description: `At most ${MAX_PIECES} pieces, in order.` }),
    },
    resolve: async (_root, args, ctx) => {
      const runId = decodeId('Run', args.runId, 'runId');
      if (args.seq < 1) throw new ValidationError('seq: batches are numbered from 1.', [{ path: ['seq'], message: 'At least 1.' }]);
      if (args.pieces.length > MAX_PIECES || args.pieces.some((piece) => piece.data.length > MAX_PIECE_CHARS)) {
        throw new ValidationError(`pieces: at most ${MAX_PIECES} pieces of at most ${MAX_PIECE_CHARS} characters each.`, [{ path: ['pieces'], message: 'Too large.' }]);
      }
      await hub(ctx).output((ctx as AgentContext).agent.hostId, runId, args.seq, args.pieces.map((piece) => ({ stream: piece.stream, data: piece.data })));
      return { runId, seq: args.seq };
    },
  }),
  agentStarted: t.boolean({
    ...agentField,
    description: 'Agents only: the run has started (its first process is `pid`).',
    args: {
      runId: t.arg.id({ required: true, description: 'The run.' }),
      pid: t.arg.int({ description: 'Its process id on the agent host; none for a built-in job.' }),
    },
    resolve: async (_root, args, ctx) => {
      if (args.pid !== null && args.pid !== undefined && args.pid < 1) throw new ValidationError('pid: a process id is positive.', [{ path: ['pid'], message: 'Positive.' }]);
      await hub(ctx).started((ctx as AgentContext).agent.hostId, decodeId('Run', args.runId, 'runId'), args.pid ?? null);
      return true;
    },
  }),
  agentFinished: t.boolean({
    ...agentField,
    description: 'Agents only: the run ended. Send it after every batch of its output was acknowledged.',
    args: {
      runId: t.arg.id({ required: true, description: 'The run.' }),
      outcome: t.arg({ type: AgentOutcomeInput, required: true, description: 'How it ended.' }),
    },
    resolve: async (_root, args, ctx) => {
      let outcome;
      try {
        outcome = outcomeFromWire({ ...args.outcome, exitCode: args.outcome.exitCode ?? null, result: args.outcome.result ?? null });
      } catch (error) {
        throw new ValidationError(error instanceof Error ? error.message : String(error), [{ path: ['outcome'], message: 'Malformed.' }]);
      }
      await hub(ctx).finished((ctx as AgentContext).agent.hostId, decodeId('Run', args.runId, 'runId'), outcome);
      return true;
    },
  }),
}));

builder.subscriptionFields((t) => ({
  agentRuns: t.field({
    ...agentField,
    type: AgentMessageRef,
    description: "Agents only: the runs for the agent's host (first those waiting for it), and cancels. Say agentHello first.",
    subscribe: (_root, _args, ctx) => hub(ctx).stream((ctx as AgentContext).agent.hostId),
    resolve: (message: AgentMessage) => message,
  }),
}));
