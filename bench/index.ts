/**
 * `pnpm bench [-- --mode <mode>] [options]`: one entry for every benchmark.
 *
 *   --mode sync      (default) sync scenarios against the simulator, see bench/sync.bench.ts
 *   --mode history   a year of history in the database: status, metrics and sync decisions, see bench/history.bench.ts
 *   --mode cleanup   cleanup's memory over 100k managed contacts, see bench/cleanup.bench.ts
 *
 * The mode's own options follow (each file documents them). Each writes a JSON report to
 * bench/results/ and prints a table; none asserts anything.
 */
const MODES = { sync: './sync.bench.ts', history: './history.bench.ts', cleanup: './cleanup.bench.ts' } as const;

const args = process.argv.slice(2).filter((a) => a !== '--');
let mode = 'sync';
const i = args.findIndex((a) => a === '--mode' || a.startsWith('--mode='));
if (i >= 0) {
  const [flag, inline] = args[i]!.split('=');
  mode = inline ?? args[i + 1] ?? '';
  args.splice(i, inline === undefined && flag === '--mode' ? 2 : 1);
}
if (!(mode in MODES)) {
  console.error(`bench: unknown mode "${mode}" (expected one of ${Object.keys(MODES).join(', ')})`);
  process.exit(2);
}
// Each benchmark reads process.argv itself: hand it only its own options.
process.argv = [process.argv[0]!, process.argv[1]!, ...args];
await import(MODES[mode as keyof typeof MODES]);
