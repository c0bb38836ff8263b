/**
 * The table every execution benchmark prints: one row per variant (Runboard's, then its peers'),
 * one column per figure, then the issue's target and whether the row meets it. Aligned plain
 * text, for people reading a terminal; the JSON line after it is for machines.
 */

export type Cell = string | number | null | undefined;

export interface Row {
  variant: string;
  cells: Cell[];
  /** The target for this row, when it has one (peers have none). */
  target?: string;
  /** Whether the row meets its target; undefined when there is nothing to judge. */
  pass?: boolean;
  note?: string;
}

/** A figure's heading and how many decimals its numbers show (default 2; 0 for counts). */
export interface Column {
  title: string;
  decimals?: number;
}

/** null: a figure that could not be had (–); undefined: one that does not apply (blank). */
function text(cell: Cell, decimals: number): string {
  if (cell === undefined) return '';
  if (cell === null) return '–';
  if (typeof cell === 'number') return cell.toLocaleString('en', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  return cell;
}

export function verdict(pass: boolean | undefined): string {
  if (pass === undefined) return '';
  return pass ? 'pass' : 'FAIL';
}

/** Prints `rows` under `columns` (the figures), numbers right-aligned. */
export function printResults(columns: Column[], rows: Row[]): void {
  const header = ['variant', ...columns.map((c) => c.title), 'target', 'verdict', ''];
  const lines = rows.map((row) => [
    row.variant,
    ...columns.map((column, i) => text(row.cells[i], column.decimals ?? 2)),
    row.target ?? '',
    verdict(row.pass),
    row.note ?? '',
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...lines.map((line) => (line[i] ?? '').length)));
  const figureColumn = (i: number) => i > 0 && i <= columns.length;
  const format = (line: string[]) =>
    line
      .map((cell, i) => (figureColumn(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  console.log(format(header));
  console.log(format(widths.map((w) => '-'.repeat(w))));
  for (const line of lines) console.log(format(line));
}

/** True when every judged row passes (rows without a target do not count). */
export function allPass(rows: Row[]): boolean {
  return rows.every((row) => row.pass !== false);
}
