/** `--json` prints exactly one JSON document on stdout; human text goes to stderr then (docs/contract.md §2). */
export interface Output {
  json: boolean;
  /** Human text: stdout normally, stderr in --json mode. */
  say(text: string): void;
  /** The single JSON document (only in --json mode). */
  document(doc: unknown): void;
}

let documentsPrinted = 0;

/** Prints a JSON document on stdout, once per process: a second one is refused (false). */
export function printDocument(doc: unknown): boolean {
  if (documentsPrinted > 0) return false;
  documentsPrinted++;
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
  return true;
}

/** Whether this process already printed its JSON document. */
export function documentPrinted(): boolean {
  return documentsPrinted > 0;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    say: (text) => (json ? process.stderr : process.stdout).write(`${text}\n`),
    document: (doc) => {
      if (json) printDocument(doc);
    },
  };
}

const useColor = () => process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: number) => (s: string) => (useColor() ? `\u001b[${code}m${s}\u001b[0m` : s);
export const color = { red: paint(31), green: paint(32), yellow: paint(33), dim: paint(2), bold: paint(1) };

/** A plain text table with padded columns. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => stripAnsi(r[i] ?? '').length)));
  return cells
    .map((r, ri) => {
      const line = r
        .map((c, i) => c + ' '.repeat(Math.max(0, widths[i]! - stripAnsi(c).length)))
        .join('  ')
        .trimEnd();
      return ri === 0 ? color.bold(line) : line;
    })
    .join('\n');
}

function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[\d+m/g, '');
}

export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return '-';
  const s = Math.round((now - Date.parse(iso)) / 1000);
  const abs = Math.abs(s);
  const v =
    abs < 90
      ? `${abs}s`
      : abs < 5400
        ? `${Math.round(abs / 60)}m`
        : abs < 172_800
          ? `${Math.round(abs / 3600)}h`
          : `${Math.round(abs / 86_400)}d`;
  return s >= 0 ? `${v} ago` : `in ${v}`;
}
