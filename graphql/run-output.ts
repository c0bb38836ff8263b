/**
 * A run's output in GraphQL: the OutputChunk type, the `runOutput` subscription (stored chunks,
 * then live ones, with no gap and no duplicate), and `runNotifier`, which publishes run changes
 * and output on the pubsub.
 */
import { Repeater } from 'graphql-yoga';
import { NotFoundError, ValidationError } from '../core/errors';
import { isTerminal } from '../core/run-state';
import { runOutputMessage, runUpdatedMessage, type RunNotifier, type RunOutputMessage } from '../core/run.service';
import { listChunks } from '../db/run-output.repository';
import { findRunById } from '../db/run.repository';
import type { RunState } from '../db/schema';
import { builder } from './builder';
import type { App } from './context';
import { decodeId } from './ids';
import type { PubSub } from './pubsub';

/** Each run's output has a topic of its own, so a subscriber hears only its run. */
const outputTopic = (runId: string) => `runOutput:${runId}` as const;

export function runNotifier(pubsub: PubSub): RunNotifier {
  return {
    runUpdated: (run, deleted = false) => pubsub.publish('runUpdated', runUpdatedMessage(run, deleted)),
    runOutput: (chunk) => pubsub.publish(outputTopic(chunk.runId), runOutputMessage(chunk)),
  };
}

/** A chunk as GraphQL serves it: from storage (Date) or from the pubsub (ISO text). */
type Chunk = Omit<RunOutputMessage, 'createdAt'> & { createdAt: Date | string };

export const OutputStreamEnum = builder.enumType('OutputStream', {
  description: 'Which stream a chunk of output came from.',
  values: {
    STDOUT: { value: 'stdout', description: "The program's standard output." },
    STDERR: { value: 'stderr', description: "The program's standard error." },
    SYSTEM: { value: 'system', description: 'Runboard itself: what it did around the program (starting, timing out, cancelling).' },
  } as const,
});

export const OutputChunkRef = builder.objectRef<Chunk>('OutputChunk').implement({
  description: "A piece of a run's output. A run's chunks are numbered 1, 2, 3… and lie end to end.",
  fields: (t) => ({
    seq: t.exposeInt('seq', { description: 'Its number in the run: 1 for the first chunk.' }),
    stream: t.field({ type: OutputStreamEnum, description: 'The stream it came from.', resolve: (chunk) => chunk.stream }),
    offset: t.exposeInt('offset', { description: "Where it starts in the run's output, in bytes of UTF-8." }),
    bytes: t.int({
      description: 'Its size in bytes of UTF-8: the next chunk starts at `offset + bytes`, the offset to resume from.',
      resolve: (chunk) => Buffer.byteLength(chunk.data, 'utf8'),
    }),
    data: t.exposeString('data', { description: 'The text.' }),
    createdAt: t.field({ type: 'DateTime', description: 'When Runboard received it.', resolve: (chunk) => chunk.createdAt }),
  }),
});

export const MAX_OUTPUT_LIMIT = 5000;

export function checkOutputRange(fromOffset: number, limit?: number): void {
  if (fromOffset < 0) throw new ValidationError('fromOffset is a byte offset: 0 or more.', [{ path: ['fromOffset'], message: '0 or more.' }]);
  if (limit !== undefined && (limit < 1 || limit > MAX_OUTPUT_LIMIT)) {
    throw new ValidationError(`limit must be between 1 and ${MAX_OUTPUT_LIMIT}.`, [{ path: ['limit'], message: `Between 1 and ${MAX_OUTPUT_LIMIT}.` }]);
  }
}

/** Chunks read from storage per query while replaying or catching up. */
const PAGE = 500;

type Item = { chunk: RunOutputMessage } | { state: RunState; deleted: boolean };

/** What the live topics delivered, waiting to be read. */
class Inbox {
  private items: Item[] = [];
  private wake: (() => void) | undefined;

  push(item: Item): void {
    this.items.push(item);
    this.wake?.();
  }

  async take(): Promise<Item[]> {
    while (this.items.length === 0) await new Promise<void>((resolve) => (this.wake = resolve));
    this.wake = undefined;
    return this.items.splice(0);
  }
}

/** Feeds `source` into `inbox`. The listener is in place when this returns (`for await` calls next() at once). */
function pump<T>(source: AsyncIterable<T>, inbox: Inbox, toItem: (value: T) => Item | undefined): void {
  void (async () => {
    for await (const value of source) {
      const item = toItem(value);
      if (item) inbox.push(item);
    }
  })();
}

/**
 * Run `runId`'s output from byte `fromOffset`: the stored chunks, then the live ones, ending once
 * the run has finished and its last chunk has been sent.
 *
 * Live topics are subscribed to FIRST, buffering, and only then is storage read: a chunk stored
 * before we listened comes from storage, one published after is in the inbox, and one in both is
 * sent once, by seq. A live chunk that skips a seq (lost on the way between instances) makes us
 * read the missing ones from storage. Once the run is terminal no chunk can be added (appends
 * need an active run), so a last read from storage completes the output.
 */
export function followOutput(app: App, runId: string, fromOffset: number): Repeater<Chunk> {
  return new Repeater<Chunk>(async (push, stop) => {
    let stopped = false;
    const inbox = new Inbox();
    const output = app.pubsub.subscribe(outputTopic(runId));
    const updates = app.pubsub.subscribe('runUpdated');
    void stop.then(() => {
      stopped = true;
      void output.return();
      void updates.return();
    });
    pump(output, inbox, (chunk) => ({ chunk }));
    pump(updates, inbox, (run) => (run.id === runId ? { state: run.state, deleted: run.deleted } : undefined));

    let last = 0;
    const wanted = (chunk: Chunk) => chunk.offset + Buffer.byteLength(chunk.data, 'utf8') > fromOffset;
    /** Sends every stored chunk after `last`. */
    const catchUp = async () => {
      for (;;) {
        const page = await listChunks(app.db, runId, { fromOffset, afterSeq: last, limit: PAGE });
        for (const chunk of page) {
          if (stopped) return;
          last = chunk.seq;
          await push(chunk);
        }
        if (page.length < PAGE) return;
      }
    };
    const finish = async () => {
      await catchUp();
      stop();
    };

    await catchUp();
    const run = await findRunById(app.db, runId);
    if (!run || isTerminal(run.state)) return finish();
    while (!stopped) {
      const items = await Promise.race([inbox.take(), stop.then(() => [])]);
      for (const item of items) {
        if (stopped) return;
        if ('state' in item) {
          if (item.deleted || isTerminal(item.state)) return finish();
        } else if (item.chunk.seq === last + 1) {
          last = item.chunk.seq;
          if (wanted(item.chunk)) await push(item.chunk);
        } else if (item.chunk.seq > last) {
          await catchUp();
        }
      }
    }
  });
}

builder.subscriptionFields((t) => ({
  runOutput: t.field({
    type: OutputChunkRef,
    description:
      "A run's output from byte `fromOffset`: first the chunks stored so far, then each new one as it arrives, with no gap and no duplicate. " +
      'It ends once the run has finished and its last chunk was sent. To resume after a disconnect, pass the `offset + bytes` of the last chunk you have.',
    args: {
      runId: t.arg.id({ required: true, description: 'The run.' }),
      fromOffset: t.arg.int({
        defaultValue: 0,
        description: 'Start at this byte of the output (bytes of UTF-8; 0, the default, is the beginning). The chunk holding it is sent whole.',
      }),
    },
    subscribe: async (_root, args, ctx) => {
      const runId = decodeId('Run', args.runId, 'runId');
      const fromOffset = args.fromOffset ?? 0;
      checkOutputRange(fromOffset);
      if (!(await findRunById(ctx.app.db, runId))) throw new NotFoundError(`There is no run with id "${runId}".`);
      return followOutput(ctx.app, runId, fromOffset);
    },
    resolve: (chunk) => chunk,
  }),
}));
