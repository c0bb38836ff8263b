/**
 * What travels between the server and an agent, and how each side checks what it receives. The
 * operations themselves are GraphQL (graphql/agent.ts); their free-form parts — a run's plan and
 * its outcome — cross as JSON and are validated here, on both ends, so a bad message is refused
 * with a reason instead of half-executing a run or half-writing a record. Terms:
 *
 * - wire plan: an ExecutionPlan as JSON (attachment bytes as base64), plus the executor limits
 *   the server would have used locally (kill grace, output cap, flush period);
 * - seq: an agent numbers each batch of a run's output 1, 2, 3…; the server stores a number once
 *   and acknowledges it, so a batch resent after a dropped connection is never stored twice;
 * - outcome: how the run ended on the agent (ExecutionOutcome).
 */
import { z } from 'zod';
import type { ExecutionOutcome, ExecutionPlan } from './execution';

/** Executor settings the server sends with each run (ExecuteOptions minus sink and signal). */
export interface WireLimits {
  killGraceMs: number;
  outputCapBytes: number;
  flushMs: number;
}

/** A message on the `agentRuns` stream. */
export type AgentMessage =
  | { kind: 'run'; runId: string; plan: ExecutionPlan; limits: WireLimits }
  /** The run was cancelled: stop its process tree. */
  | { kind: 'cancel'; runId: string };

/** The longest a piece of output may be in one `agentOutput` (a batch is at most ~64 KiB). */
export const MAX_PIECE_CHARS = 1024 * 1024;
export const MAX_PIECES = 1000;

const int = z.number().int();
const nullableId = int.min(0).nullable();

const attachment = z.object({
  path: z.string().min(1),
  mode: int.min(0).max(0o7777),
  uid: nullableId,
  gid: nullableId,
  content: z.string(),
});

const common = {
  runId: z.string().min(1),
  env: z.record(z.string(), z.string()),
  secrets: z.array(z.string()),
  workingDir: z.string().nullable(),
  runAsUid: nullableId,
  runAsGid: nullableId,
  timeoutMs: int.min(0).nullable(),
  attachments: z.array(attachment),
};

const step = z.object({ name: z.string().nullable(), executable: z.string(), args: z.array(z.string()), body: z.string().nullable(), template: z.boolean().optional() });

const wirePlan = z.discriminatedUnion('kind', [
  z.object({ ...common, kind: z.literal('script'), executable: z.string(), body: z.string(), steps: z.array(step), stopOnFirstFailure: z.boolean(), parameters: z.record(z.string(), z.string()).optional() }),
  z.object({ ...common, kind: z.literal('command'), args: z.array(z.string()) }),
  z.object({ ...common, kind: z.literal('http'), args: z.array(z.unknown()) }),
  z.object({ ...common, kind: z.literal('noop'), args: z.array(z.unknown()) }),
]);

const limits = z.object({ killGraceMs: int.min(0), outputCapBytes: int.min(1), flushMs: int.min(1) });

/** The JSON form of a plan: Buffers become base64 text. */
export function planToWire(plan: ExecutionPlan): unknown {
  return { ...plan, attachments: plan.attachments.map((a) => ({ ...a, content: a.content.toString('base64') })) };
}

function problems(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
    .join('; ');
}

/** A plan received as JSON, checked; throws with what is wrong. */
export function planFromWire(value: unknown): ExecutionPlan {
  const parsed = wirePlan.safeParse(value);
  if (!parsed.success) throw new Error(`The run's plan is malformed: ${problems(parsed.error)}`);
  const plan = parsed.data;
  return { ...plan, attachments: plan.attachments.map((a) => ({ ...a, content: Buffer.from(a.content, 'base64') })) } as ExecutionPlan;
}

export function limitsFromWire(value: unknown): WireLimits {
  const parsed = limits.safeParse(value);
  if (!parsed.success) throw new Error(`The run's limits are malformed: ${problems(parsed.error)}`);
  return parsed.data;
}

const outcome = z.object({
  state: z.enum(['succeeded', 'failed', 'timed_out', 'cancelled']),
  exitCode: int.nullable(),
  summary: z.string().max(10_000),
  result: z.unknown(),
  outputBytes: int.min(0),
  outputTruncated: z.boolean(),
});

/** An outcome reported by an agent, checked (an agent never reports `lost`: the server decides that). */
export function outcomeFromWire(value: unknown): ExecutionOutcome {
  const parsed = outcome.safeParse(value);
  if (!parsed.success) throw new Error(`The outcome is malformed: ${problems(parsed.error)}`);
  return { ...parsed.data, result: parsed.data.result ?? null };
}
