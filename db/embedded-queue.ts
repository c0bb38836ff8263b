/**
 * A fix for pglite-socket 0.2.17's multiplexing. Its queue feeds PGlite one protocol message at a
 * time from whichever connection sent one, keeping to one connection only inside a transaction.
 * `pg` sends a query as several messages (Parse, Bind, Describe, Execute, Sync), so two
 * connections querying at once interleave them, and one connection's Bind meets the other's
 * Parse ("unnamed prepared statement does not exist"). This replaces the queue's loop with one
 * that also keeps to a connection until its message sequence ends (Sync, a simple Query, or
 * Terminate). Checked against the pinned version: the shape it expects is asserted at start.
 */
import type { PGlite } from '@electric-sql/pglite';

interface QueuedMessage {
  handlerId: number;
  message: Uint8Array;
  resolve: (bytes: number) => void;
  reject: (error: unknown) => void;
  onData: (data: Uint8Array) => void;
}

interface QueryQueue {
  queue: QueuedMessage[];
  processing: boolean;
  lastHandlerId: number | null;
  db: PGlite;
  processQueue(): Promise<void>;
}

const SYNC = 0x53; // 'S'
const QUERY = 0x51; // 'Q'
const TERMINATE = 0x58; // 'X'

/** Whether a message ends what its connection is sending (startup messages begin with a 0 byte). */
function endsSequence(message: Uint8Array): boolean {
  const type = message[0];
  return type === SYNC || type === QUERY || type === TERMINATE || type === 0;
}

export function keepMessageSequencesTogether(server: unknown): void {
  const queue = (server as { queryQueue?: QueryQueue }).queryQueue;
  if (!queue || !Array.isArray(queue.queue) || typeof queue.processQueue !== 'function') {
    throw new Error('pglite-socket changed: the embedded database needs its query queue fix checked against the new version.');
  }
  let midSequence = false;
  queue.processQueue = async function processQueue(this: QueryQueue) {
    if (this.processing || this.queue.length === 0) return;
    this.processing = true;
    try {
      while (this.queue.length > 0) {
        const sticky = this.lastHandlerId !== null && (midSequence || this.db.isInTransaction());
        const index = sticky ? this.queue.findIndex((item) => item.handlerId === this.lastHandlerId) : 0;
        // The connection in the middle of a sequence or transaction has not sent its next message
        // yet; the others wait (its enqueue calls this again).
        if (index === -1) break;
        const item = this.queue.splice(index, 1)[0]!;
        let bytes = 0;
        try {
          await this.db.runExclusive(() =>
            this.db.execProtocolRawStream(item.message, {
              onRawData: (data: Uint8Array) => {
                bytes += data.length;
                item.onData(data);
              },
            }),
          );
        } catch (error) {
          midSequence = false;
          this.lastHandlerId = item.handlerId;
          item.reject(error);
          continue;
        }
        midSequence = !endsSequence(item.message);
        this.lastHandlerId = item.handlerId;
        item.resolve(bytes);
      }
    } finally {
      this.processing = false;
    }
  }.bind(queue);
}
