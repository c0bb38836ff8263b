/**
 * Processes of lost runs. A run's process group outlives the Runboard process that started it
 * when that process is killed (the group is detached by design, so a timeout can kill it whole).
 * When an instance resolves a run as lost — another instance's, or at start its own previous
 * life's — it kills the run's group if it is on this machine. A pid alone could have been reused,
 * so the group is killed only when /proc shows the process still carries the run's
 * RUNBOARD_RUN_ID in its environment.
 */
import fs from 'node:fs';
import type { Run } from '../db/run.repository';

/** Whether process `pid` on this machine belongs to run `runId`. */
function belongsTo(pid: number, runId: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`RUNBOARD_RUN_ID=${runId}`);
  } catch {
    return false; // gone, another machine's pid, or no /proc
  }
}

/** Kills what is left of these runs' process groups on this machine; answers the runs it killed. */
export function killOrphans(runs: readonly Pick<Run, 'id' | 'pid'>[]): string[] {
  const killed: string[] = [];
  for (const run of runs) {
    if (!run.pid || !belongsTo(run.pid, run.id)) continue;
    try {
      process.kill(-run.pid, 'SIGKILL');
      killed.push(run.id);
    } catch {
      // already gone
    }
  }
  return killed;
}
