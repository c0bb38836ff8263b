/**
 * The live-output benchmark's script: prints numbered lines at a steady rate, each carrying the
 * wall-clock time it was printed, so a reader can tell how late it arrived and whether any went
 * missing or came out of order. Plain JavaScript with no dependencies, so it starts fast wherever
 * Runboard runs it (the run's working directory is a temporary one).
 *
 *   node line-printer.mjs --rate 20000 --seconds 10 --go /tmp/go-file
 *
 * It prints `0 <time> ready` at once, then waits for the go file to exist (so every reader is
 * listening before the measured lines start), then prints lines 1 … rate × seconds as
 * `<seq> <ms since the epoch, to the microsecond>`, in batches every millisecond or so, and exits.
 * It gives up (exit 3) when the go file does not appear within a minute.
 */
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setTimeout } from 'node:timers';
import { parseArgs } from 'node:util';

const GO_WAIT_MS = 60_000;

const { values } = parseArgs({
  options: { rate: { type: 'string' }, seconds: { type: 'string' }, go: { type: 'string' } },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
if (!Number.isInteger(rate) || rate < 1 || !Number.isInteger(seconds) || seconds < 1 || !values.go) {
  process.stderr.write('Usage: node line-printer.mjs --rate <lines per second> --seconds <n> --go <file to wait for>\n');
  process.exit(2);
}
const goFile = values.go;
const total = rate * seconds;
const now = () => (performance.timeOrigin + performance.now()).toFixed(3);

process.stdout.write(`0 ${now()} ready\n`);

const waitingSince = performance.now();
function waitForGo() {
  if (fs.existsSync(goFile)) return print();
  if (performance.now() - waitingSince > GO_WAIT_MS) {
    process.stderr.write(`No go file at ${goFile} after ${GO_WAIT_MS / 1000} s; giving up.\n`);
    process.exit(3);
  }
  setTimeout(waitForGo, 2);
}

function print() {
  const began = performance.now();
  let printed = 0;
  const tick = () => {
    const due = Math.min(total, Math.floor(((performance.now() - began) * rate) / 1000));
    if (due > printed) {
      // Every line of a batch is printed by the same write, so they share its time.
      const at = now();
      let text = '';
      for (let seq = printed + 1; seq <= due; seq++) text += `${seq} ${at}\n`;
      // A pipe's write blocks on Linux when the reader falls behind: then the lines wait here,
      // with their time already taken, and the lateness counts against the reader.
      process.stdout.write(text);
      printed = due;
    }
    if (printed < total) setTimeout(tick, 1);
  };
  tick();
}

waitForGo();
