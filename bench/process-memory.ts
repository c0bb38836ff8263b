/** A process's memory as Linux reports it in /proc/<pid>/status, for the benches that print it. */
import fs from 'node:fs';

export interface ProcessMemory {
  /** VmHWM: the most it has been resident since it started (its peak), in MiB. */
  peakMiB: number;
  /** VmRSS: resident now, in MiB. */
  rssMiB: number;
}

/** The memory of process `pid` (or `self`); null when /proc cannot tell (not Linux, or it exited). */
export function memoryOf(pid: number | 'self'): ProcessMemory | null {
  let status: string;
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const mib = (field: string) => Math.round(Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) / 102.4) / 10;
  return { peakMiB: mib('VmHWM'), rssMiB: mib('VmRSS') };
}
